package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/datadir"
)

// Serve listens on the configured address (and, with [tls], on the HTTPS
// one), serves snapshots and runs the pulse schedule until ctx ends.
func (a *App) Serve(ctx context.Context, schedule bool) error {
	ln, err := net.Listen("tcp", a.Config.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return a.ServeListener(ctx, ln, schedule)
}

// ServeListener is Serve on an existing plain HTTP listener; with [tls]
// it opens the HTTPS listener itself.
func (a *App) ServeListener(ctx context.Context, ln net.Listener, schedule bool) error {
	var tlsLn net.Listener
	if a.Config.TLS != nil {
		var err error
		if tlsLn, err = net.Listen("tcp", a.Config.TLS.Listen); err != nil {
			ln.Close()
			return fmt.Errorf("serve https: %w", err)
		}
	}
	return a.ServeListeners(ctx, ln, tlsLn, schedule)
}

// Certs is the certificate manager of the serving HTTPS listener, or nil
// when there is none (no [tls], or not serving yet). The metrics package
// reads its NotAfter for the certificate-expiry gauge.
func (a *App) Certs() *certs.Manager {
	a.certsMu.Lock()
	defer a.certsMu.Unlock()
	return a.certs
}

func (a *App) setCerts(m *certs.Manager) {
	a.certsMu.Lock()
	a.certs = m
	a.certsMu.Unlock()
}

// ServeListeners serves snapshots and the admin API on ln (plain HTTP,
// which also answers ACME HTTP-01 challenges) and, if tlsLn is not nil,
// over HTTPS on tlsLn with the certificates [tls] describes (answering
// TLS-ALPN-01 there); runs the pulse schedule and GC if schedule is set;
// until ctx ends.
func (a *App) ServeListeners(ctx context.Context, ln, tlsLn net.Listener, schedule bool) error {
	handler := a.Handler()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mgr *certs.Manager
	if tlsLn != nil {
		if a.Config.TLS == nil {
			ln.Close()
			tlsLn.Close()
			return errors.New("serve: an HTTPS listener needs a [tls] section")
		}
		var err error
		mgr, err = certs.New(a.Config.TLS, datadir.Dir(a.Config.DataDir).Certs(), a.Log, certs.Options{HTTPAddr: ln.Addr(), TLSAddr: tlsLn.Addr(),
			RenewCheckInterval: a.CertRenewCheck})
		if err != nil {
			ln.Close()
			tlsLn.Close()
			return err
		}
		a.setCerts(mgr)
		defer func() { a.setCerts(nil); mgr.Stop() }()
	}
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn)}
	}
	plain := handler
	if mgr != nil {
		plain = mgr.HTTPHandler(handler)
	}
	servers := []*http.Server{newServer(plain)}
	if mgr != nil {
		srv := newServer(handler)
		srv.TLSConfig = mgr.TLSConfig()
		servers = append(servers, srv)
	}
	var wg sync.WaitGroup
	// Package lists for the web UI of snapshots made before they existed
	// (each list is written once; later pulses write their own).
	wg.Go(func() { a.ui.WarmAll(ctx) })
	if schedule {
		wg.Go(func() { a.Schedule(ctx) })
		if every := a.Config.GCInterval; every > 0 {
			wg.Go(func() { a.collectEvery(ctx, every) })
		}
	}
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		for _, srv := range servers {
			srv.Shutdown(sctx)
		}
	}()
	errc := make(chan error, 2)
	if mgr != nil {
		go func() { errc <- servers[1].ServeTLS(tlsLn, "", "") }()
		a.Log.Info("serving https", "addr", tlsLn.Addr().String(), "names", a.Config.TLS.SANs())
	}
	a.Log.Info("serving", "addr", ln.Addr().String(), "public_url", a.Config.PublicURL)
	go func() { errc <- servers[0].Serve(ln) }()
	if mgr != nil {
		// The CA connects back to the listeners, so certificates are
		// obtained once both serve.
		if err := mgr.Start(ctx); err != nil {
			a.Log.Error("certificate management", "err", err)
		}
	}
	err := <-errc
	cancel()
	if len(servers) > 1 {
		if e := <-errc; err == nil || errors.Is(err, http.ErrServerClosed) {
			err = e
		}
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
