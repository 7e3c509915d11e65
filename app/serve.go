package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/datadir"
)

// Serve listens on the configured address (and, with [tls], on the HTTPS
// one), serves snapshots and runs the pulse schedule (o.Schedule) until
// ctx ends, reloading its configuration as o says (see ServeOn).
func (a *App) Serve(ctx context.Context, o ServeOptions) error {
	ln, err := net.Listen("tcp", a.Config.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var tlsLn net.Listener
	if a.Config.TLS.Listener() {
		if tlsLn, err = net.Listen("tcp", a.Config.TLS.Listen); err != nil {
			ln.Close()
			return fmt.Errorf("serve https: %w", err)
		}
	}
	return ServeOn(ctx, a, ln, tlsLn, o)
}

// ServeListener is Serve on an existing plain HTTP listener; with [tls]
// it opens the HTTPS listener itself.
func (a *App) ServeListener(ctx context.Context, ln net.Listener, schedule bool) error {
	var tlsLn net.Listener
	if a.Config.TLS.Listener() {
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
	return ServeOn(ctx, a, ln, tlsLn, ServeOptions{Schedule: schedule})
}

// ServeOptions configure Serve.
type ServeOptions struct {
	// Schedule runs the pulse schedule and GC.
	Schedule bool
	// Reload, when not nil, asks for the configuration to be read again:
	// Open then gives the App of the new configuration, which serves
	// every request from then on (see ServeOn).
	Reload <-chan struct{}
	Open   func(ctx context.Context) (*App, error)
}

// ServeOn serves first on ln (and tlsLn) as ServeListeners does. On each
// signal on o.Reload it opens the new configuration's App: if its data
// directory and listening addresses are those in use, new requests go to
// it, the schedule restarts on it, and the previous App is closed once
// the requests it was answering are done, so that no connection drops.
// A configuration that does not load, or that changes what only a
// restart changes, is logged and the one in use stays.
func ServeOn(ctx context.Context, first *App, ln, tlsLn net.Listener, o ServeOptions) error {
	if tlsLn != nil && !first.Config.TLS.Listener() {
		ln.Close()
		tlsLn.Close()
		return errors.New("serve: an HTTPS listener needs a [tls] section")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, err := first.start(ctx, ln, tlsLn, o.Schedule)
	if err != nil {
		ln.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		return err
	}
	var cur atomic.Pointer[generation]
	cur.Store(g)
	const readHeaderTimeout, idleTimeout = 10 * time.Second, 2 * time.Minute
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(first.Log.Handler(), slog.LevelWarn)}
	}
	servers := []*http.Server{newServer(front(&cur, false))}
	if tlsLn != nil {
		srv := newServer(front(&cur, true))
		srv.TLSConfig = &tls.Config{
			NextProtos: []string{"h2", "http/1.1"},
			// The generation serving now decides (its names, its
			// certificates, its ACME challenges).
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return cur.Load().mgr.TLSConfig(), nil },
		}
		servers = append(servers, srv)
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
	if tlsLn != nil {
		go func() { errc <- servers[1].ServeTLS(tlsLn, "", "") }()
		first.Log.Info("serving https", "addr", tlsLn.Addr().String(), "names", first.Config.TLS.SANs())
	}
	first.Log.Info("serving", "addr", ln.Addr().String(), "public_url", first.Config.PublicURL)
	// Small pool files are answered without net/http (see plainListener).
	go func() { errc <- servers[0].Serve(newPlainListener(ln, &cur, idleTimeout, readHeaderTimeout)) }()
	g.startCerts(ctx)
	var retiring sync.WaitGroup
	for err == nil {
		select {
		case err = <-errc:
		case <-o.Reload:
			old := cur.Load()
			next, rerr := old.app.reload(ctx, o.Open, ln, tlsLn, o.Schedule)
			if rerr != nil {
				old.app.Log.Error("configuration not reloaded; the one in use stays", "err", rerr)
				continue
			}
			cur.Store(next)
			next.startCerts(ctx)
			next.app.Log.Info("configuration reloaded", "archives", len(next.app.Config.Archives), "custom", len(next.app.Config.Customs))
			retiring.Go(old.retire)
		}
	}
	cancel()
	if len(servers) > 1 {
		if e := <-errc; err == nil || errors.Is(err, http.ErrServerClosed) {
			err = e
		}
	}
	cur.Load().retire()
	retiring.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// generation is one configuration serving: its App, handlers,
// certificate manager and schedule, and the requests it is answering.
type generation struct {
	app         *App
	plain, tls  http.Handler
	mgr         *certs.Manager
	inst        *certs.Installer
	cancel      context.CancelFunc
	background  sync.WaitGroup // the schedule, GC and warm-up
	mu          sync.RWMutex   // held shared by each request, exclusively to retire
	retired     bool
	closeOnDone bool // the App is closed on retirement (not the first, which its opener closes)
}

// start makes the generation of App a on the given listeners' addresses.
func (a *App) start(ctx context.Context, ln, tlsLn net.Listener, schedule bool) (*generation, error) {
	g := &generation{app: a}
	handler := a.Handler()
	g.plain, g.tls = handler, handler
	var shared certmagicStorage
	if kv, ok := a.Catalog.(catalog.KV); ok && a.storage != nil && a.storage.Shared {
		// Servers behind one name share their ACME account,
		// certificates and challenges: one issues, any answers.
		shared = certs.NewKVStorage(kv, a.Log)
	}
	if tlsLn != nil {
		opts := certs.Options{HTTPAddr: ln.Addr(), TLSAddr: tlsLn.Addr(), RenewCheckInterval: a.CertRenewCheck, Storage: shared}
		mgr, err := certs.New(a.Config.TLS, datadir.Dir(a.Config.DataDir).Certs(), a.Log, opts)
		if err != nil {
			return nil, err
		}
		g.mgr = mgr
		g.plain = mgr.HTTPHandler(handler)
		a.setCerts(mgr)
	}
	if err := g.startInstaller(ln, shared); err != nil {
		return nil, err
	}
	gctx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	// Package lists for the web UI of snapshots made before they existed
	// (each list is written once; later pulses write their own).
	g.background.Go(func() { a.ui.WarmAll(gctx) })
	// Changes made by other servers sharing the catalog.
	if w, ok := a.Catalog.(interface {
		Watch(context.Context, func()) error
	}); ok {
		g.background.Go(func() { w.Watch(gctx, a.Events.Changed) })
	}
	if a.Config.Export.Dir != "" {
		g.background.Go(func() { a.followExport(gctx) })
	}
	if schedule {
		// A collection's sweep is left to the leader's background.
		a.sweeper.Store(true)
		// Of several servers on one storage, the leader alone.
		g.background.Go(func() {
			a.leading(gctx, func(ctx context.Context) {
				var wg sync.WaitGroup
				wg.Go(func() { a.Schedule(ctx) })
				wg.Go(func() { a.sweepInBackground(ctx) })
				if every := a.Config.GCInterval; every > 0 {
					wg.Go(func() { a.collectEvery(ctx, every) })
				}
				wg.Wait()
			})
		})
	}
	return g, nil
}

// startCerts starts certificate management once the listeners serve (the
// CA connects back to them).
func (g *generation) startCerts(ctx context.Context) {
	if g.inst != nil {
		if err := g.inst.Start(ctx); err != nil {
			g.app.Log.Error("certificate management for the web server", "err", err)
		}
	}
	if g.mgr == nil {
		return
	}
	if err := g.mgr.Start(ctx); err != nil {
		g.app.Log.Error("certificate management", "err", err)
	}
}

// retire stops the generation's schedule, waits for the requests it is
// answering, and releases it.
func (g *generation) retire() {
	g.cancel()
	g.background.Wait()
	g.mu.Lock()
	g.retired = true
	g.mu.Unlock()
	if g.inst != nil {
		g.app.setInstaller(nil)
		g.inst.Stop()
	}
	if g.mgr != nil {
		g.app.setCerts(nil)
		g.mgr.Stop()
	}
	if g.closeOnDone {
		g.app.Close()
	}
}

// front routes each request to the generation serving when it arrives.
func front(cur *atomic.Pointer[generation], overTLS bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			g := cur.Load()
			g.mu.RLock()
			if g.retired {
				g.mu.RUnlock()
				continue // swapped meanwhile: the next one serves
			}
			h := g.plain
			if overTLS {
				h = g.tls
			}
			h.ServeHTTP(w, r)
			g.mu.RUnlock()
			return
		}
	})
}

// reload opens the App of the configuration as it is now and starts its
// generation, if it can serve on the listeners in use.
func (a *App) reload(ctx context.Context, open func(context.Context) (*App, error), ln, tlsLn net.Listener, schedule bool) (*generation, error) {
	if open == nil {
		return nil, errors.New("this server cannot reload its configuration")
	}
	b, err := open(ctx)
	if err != nil {
		return nil, err
	}
	if err := restartNeeded(a.Config, b.Config); err != nil {
		b.Close()
		return nil, err
	}
	g, err := b.start(ctx, ln, tlsLn, schedule)
	if err != nil {
		b.Close()
		return nil, err
	}
	g.closeOnDone = true
	return g, nil
}

// restartNeeded says what of the new configuration only a restart applies.
func restartNeeded(old, cfg *config.Config) error {
	var what []string
	if cfg.DataDir != old.DataDir {
		what = append(what, "data_dir")
	}
	if cfg.Listen != old.Listen {
		what = append(what, "listen")
	}
	if cfg.TLS.Listener() != old.TLS.Listener() || cfg.TLS.Listener() && cfg.TLS.Listen != old.TLS.Listen {
		what = append(what, "the HTTPS listener ([tls] added, removed, or its listen)")
	}
	if cfg.SigningKey != old.SigningKey {
		what = append(what, "signing_key")
	}
	if len(what) > 0 {
		return fmt.Errorf("%s changed: that needs a restart (systemctl restart aptsnap)", strings.Join(what, ", "))
	}
	return nil
}
