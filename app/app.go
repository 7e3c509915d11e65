// Package app wires aptsnap's parts together from a configuration: the
// catalog, the file store, the signing key, the mirror and the HTTP server.
// The CLI and the end-to-end tests both build on it.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/storage"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/metrics"
	"github.com/aptsnap/aptsnap/mirror"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/progress"
	"github.com/aptsnap/aptsnap/serve"
	"github.com/aptsnap/aptsnap/web"
)

// App is an opened aptsnap installation.
type App struct {
	Config  *config.Config
	Catalog catalog.Catalog
	Store   blob.Store
	Signer  *pgp.Signer
	Log     *slog.Logger
	// Now is the clock used for snapshot times and schedules.
	Now func() time.Time
	// Progress draws pulse progress (nothing by default).
	Progress progress.Reporter
	// Client fetches from upstreams (a default client if nil).
	Client *http.Client
	// Locker takes the locks between processes (flock in the data
	// directory if nil).
	Locker lock.Locker
	// Events tells the server, the web UI and the metrics what the
	// engines did.
	Events *events.Bus
	// Metrics are served at /metrics.
	Metrics *metrics.Metrics
	// CertRenewCheck is how often ACME certificates are checked for
	// renewal and their ARI refreshed (certmagic's default when zero).
	CertRenewCheck time.Duration

	server *serve.Server
	ui     *web.UI
	once   sync.Once

	certsMu sync.Mutex
	certs   *certs.Manager // while serving HTTPS
}

// Open opens the catalog, store and signing key described by cfg,
// generating the key in the data directory on first start.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := storage.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	signer, created, err := pgp.LoadOrCreateSigner(cfg.SigningKeyPath(), "aptsnap archive signing key")
	if err != nil {
		st.Close()
		return nil, err
	}
	if created {
		log.Info("generated signing key", "path", cfg.SigningKeyPath(), "fingerprint", signer.Fingerprint())
	}
	a := &App{Config: cfg, Catalog: st.Catalog, Store: st.Store, Locker: st.Locker, Signer: signer, Log: log, Now: time.Now,
		Progress: progress.Discard{}, Events: &events.Bus{}}
	a.Metrics = metrics.New(st.Catalog, st.Store, a.archiveNames())
	a.Metrics.Listen(a.Events)
	web.PruneOnCollect(a.Events, a.sidecarDir(), log)
	a.Metrics.CertSource(func() map[string]time.Time {
		if c := a.Certs(); c != nil {
			return c.NotAfter()
		}
		return nil
	})
	return a, nil
}

// Close releases the catalog.
func (a *App) Close() error { return a.Catalog.Close() }

// Mirror returns a Mirror configured from the App.
func (a *App) Mirror() *mirror.Mirror {
	o := mirror.Options{
		Catalog: a.Catalog, Store: a.Store, Publisher: a.publisher(), PublicURL: a.Config.PublicURL,
		Locker: a.locker(), Parallel: a.Config.Parallel,
		Now: a.Now, Log: a.Log, Progress: a.Progress, Client: a.Client, Events: a.Events,
	}
	return mirror.New(o)
}

// publisher publishes snapshots signed with the App's key, on its clock.
func (a *App) publisher() *publish.Publisher {
	return publish.New(publish.Options{Catalog: a.Catalog, Store: a.Store, Signer: a.Signer, Now: a.Now, Events: a.Events})
}

// Pulse runs one pulse of the named archive.
func (a *App) Pulse(ctx context.Context, archive string) (catalog.Snapshot, error) {
	if _, err := a.Config.Custom(archive); err == nil {
		return a.customs().Pulse(ctx, archive)
	}
	arc, err := a.Config.Archive(archive)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	return a.Mirror().Pulse(ctx, arc)
}

// Handler returns the HTTP handler serving the snapshots, and the admin
// API under api.Prefix.
func (a *App) Handler() http.Handler {
	a.once.Do(func() {
		a.server = serve.New(serve.Options{Catalog: a.Catalog, Store: a.Store, PublicKey: a.Signer.PublicKey(),
			Archives: a.archiveNames(), Log: a.Log})
		a.Events.OnChanged(a.server.Invalidate)
		a.ui = web.New(web.Options{Catalog: a.Catalog, Store: a.Store, Archives: a.archiveNames(),
			PublicURL: a.Config.PublicURL, Now: a.Now, CacheDir: a.sidecarDir(), Log: a.Log})
		a.ui.Listen(a.Events)
	})
	admin := api.NewServer(a, a.Catalog, a.Log)
	metrics := a.Metrics.Handler()
	ui := a.ui
	// A prefix test rather than a ServeMux: a mux would redirect unclean
	// snapshot paths ("..") that the server must answer with 400.
	return a.Metrics.Count(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, api.Prefix):
			admin.ServeHTTP(w, r)
		case r.URL.Path == "/metrics":
			metrics.ServeHTTP(w, r)
		case r.URL.Path == "/":
			http.Redirect(w, r, "/ui/", http.StatusFound)
		case r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/"):
			ui.ServeHTTP(w, r)
		default:
			a.server.ServeHTTP(w, r)
		}
	}))
}

func (a *App) archiveNames() []string { return a.Config.Names() }

// Schedule pulses every archive pulses_per_day times a day, at slots
// aligned on UTC midnight, until ctx ends. An archive whose newest
// snapshot is older than one interval is pulsed at once.
func (a *App) Schedule(ctx context.Context) {
	var wg sync.WaitGroup
	type scheduled struct {
		name  string
		every time.Duration
	}
	var all []scheduled
	for i := range a.Config.Archives {
		all = append(all, scheduled{a.Config.Archives[i].Name, a.Config.Archives[i].PulseInterval()})
	}
	for i := range a.Config.Customs {
		all = append(all, scheduled{a.Config.Customs[i].Name, a.Config.Customs[i].PulseInterval()})
	}
	for _, arc := range all {
		every := arc.every
		if every == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := a.Now()
			if snap, err := a.Catalog.Latest(ctx, arc.name); err == nil && a.Now().Sub(snap.Created) < every {
				next = nextSlot(a.Now(), every)
			}
			for {
				t := time.NewTimer(max(time.Until(next), 0))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				a.Pulse(ctx, arc.name) // logged and recorded
				next = nextSlot(a.Now(), every)
			}
		}()
	}
	wg.Wait()
}

// nextSlot is the first instant after now that is a whole number of
// intervals past UTC midnight.
func nextSlot(now time.Time, every time.Duration) time.Time {
	now = now.UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	n := now.Sub(midnight)/every + 1
	return midnight.Add(n * every)
}

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
