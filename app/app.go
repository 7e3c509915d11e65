// Package app is the wiring: it opens an installation from its
// configuration (storage, signing key, events, metrics), gives each engine
// its dependencies, routes HTTP to the snapshot server, the admin API, the
// web UI and the metrics, and runs the schedule. What aptsnap does is in
// the engines (mirror, custom, tag, gc, verify) and the publish step they
// share; the CLI and the end-to-end tests build on App.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/custom"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/gc"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/metrics"
	"github.com/aptsnap/aptsnap/mirror"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/progress"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/serve"
	"github.com/aptsnap/aptsnap/storage"
	"github.com/aptsnap/aptsnap/tag"
	"github.com/aptsnap/aptsnap/verify"
	"github.com/aptsnap/aptsnap/web"
)

// App is an opened aptsnap installation.
type App struct {
	Config  *config.Config
	Catalog catalog.Catalog
	Store   blob.Store
	// Locker takes the locks between the processes sharing the storage.
	Locker lock.Locker
	Signer *pgp.Signer
	Log    *slog.Logger
	// Now is the clock used for snapshot times and schedules.
	Now func() time.Time
	// Progress reports pulse downloads (a log line every 30 s by default).
	Progress progress.Reporter
	// Client fetches from upstreams (a default client if nil).
	Client *http.Client
	// Events tells the server, the web UI and the metrics what the
	// engines did.
	Events *events.Bus
	// Metrics are served at /metrics.
	Metrics *metrics.Metrics
	// CertRenewCheck is how often ACME certificates are checked for
	// renewal and their ARI refreshed (certmagic's default when zero).
	CertRenewCheck time.Duration

	storage *storage.Storage
	// leader waits for this server's turn to run the schedule (nil: one
	// server).
	leader func(context.Context) (lock.Lease, error)

	server *serve.Server
	ui     *web.UI
	once   sync.Once

	certsMu sync.Mutex
	certs   *certs.Manager // while serving HTTPS
	// installer installs [[tls.install]] certificates while serving.
	installer *certs.Installer
	// CertInstallRetry is how often a failed [[tls.install]] is tried
	// again (a minute if zero).
	CertInstallRetry time.Duration

	// sweeper is set while a server's schedule runs (see GC): its mark
	// leaves the sweep to the background.
	sweeper  atomic.Bool
	sweepNow chan struct{}
	// SweepPoll is how often the leading server looks for a sweep left
	// to it by another process (a minute if zero).
	SweepPoll time.Duration
}

// Open opens the storage and signing key described by cfg, generating the
// key in the data directory on first start.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := storage.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var signer *pgp.Signer
	var created bool
	if st.Shared && cfg.SigningKey == "" {
		signer, created, err = sharedSigner(ctx, st)
	} else {
		signer, created, err = pgp.LoadOrCreateSigner(cfg.SigningKeyPath(), "aptsnap archive signing key")
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	if created {
		where := cfg.SigningKeyPath()
		if st.Shared && cfg.SigningKey == "" {
			where = "the catalog"
		}
		log.Info("generated signing key", "in", where, "fingerprint", signer.Fingerprint())
	}
	a := &App{Config: cfg, Catalog: st.Catalog, Store: st.Store, Locker: st.Locker, Signer: signer, Log: log, Now: time.Now,
		Progress: &progress.Log{Logger: log, Every: 30 * time.Second}, Events: &events.Bus{},
		storage: st, leader: st.Leader, sweepNow: make(chan struct{}, 1)}
	a.Metrics = metrics.New(st.Catalog, st.Store, cfg.Names(), func() time.Time { return a.Now() })
	a.Metrics.Listen(a.Events)
	a.Metrics.CertSource(func() map[string]time.Time {
		if c := a.Certs(); c != nil {
			return c.NotAfter()
		}
		return nil
	})
	web.PruneOnCollect(a.Events, a.packageLists(), log)
	return a, nil
}

// Close releases the storage.
func (a *App) Close() error { return a.storage.Close() }

// packageLists is where the web UI keeps its package list per index.
func (a *App) packageLists() string { return datadir.Dir(a.Config.DataDir).PackageLists() }

// The engines, each given its dependencies. They are made per use: they
// hold no state of their own, and the App's clock, progress and client may
// be set after Open.

func (a *App) publisher() *publish.Publisher {
	return publish.New(publish.Options{Catalog: a.Catalog, Store: a.Store, Signer: a.Signer, Now: a.Now, Events: a.Events})
}

func (a *App) mirror() *mirror.Mirror {
	return mirror.New(mirror.Options{Catalog: a.Catalog, Store: a.Store, Publisher: a.publisher(), PublicURL: a.Config.PublicURL,
		Locker: a.Locker, Parallel: a.Config.Parallel, MaxIndexSize: a.Config.MaxIndexSize(), Now: a.Now,
		Timeouts: mirror.Timeouts{Connect: a.Config.Downloads.Connect, Stall: a.Config.Downloads.Stall,
			MinRate: int64(a.Config.Downloads.MinRateKiB) << 10, Pulse: a.Config.Downloads.Pulse}, Log: a.Log, Progress: a.Progress, Client: a.Client,
		Events: a.Events})
}

func (a *App) customs() *custom.Archives {
	return custom.New(custom.Options{Archives: a.Config.Customs, Catalog: a.Catalog, Store: a.Store, Publisher: a.publisher(),
		Locker: a.Locker, MaxIndexSize: a.Config.MaxIndexSize(), Now: a.Now, Log: a.Log, Events: a.Events})
}

func (a *App) tagger() *tag.Tagger {
	return tag.New(tag.Options{Catalog: a.Catalog, Store: a.Store, Publisher: a.publisher(), Locker: a.Locker,
		MaxIndexSize: a.Config.MaxIndexSize(), Now: a.Now, Log: a.Log, Events: a.Events})
}

func (a *App) collector() *gc.Collector {
	return gc.New(gc.Options{Catalog: a.Catalog, Store: a.Store, Locker: a.Locker, Now: a.Now, Log: a.Log, Events: a.Events})
}

func (a *App) verifier() *verify.Verifier {
	return verify.New(verify.Options{Catalog: a.Catalog, Store: a.Store, Keyring: a.Signer.Keyring(), MaxIndexSize: a.Config.MaxIndexSize()})
}

// Pulse runs one pulse of the named archive: a mirror run, or the
// re-snapshot of a custom archive.
func (a *App) Pulse(ctx context.Context, archive string) (catalog.Snapshot, error) {
	if _, err := a.Config.Custom(archive); err == nil {
		return a.customs().Pulse(ctx, archive)
	}
	arc, err := a.Config.Archive(archive)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	return a.mirror().Pulse(ctx, arc)
}

// gcPreview is a garbage collection dry run, for the web UI's storage page.
func (a *App) gcPreview(ctx context.Context) (web.GCPreview, error) {
	res, err := a.collector().Run(ctx, true)
	return web.GCPreview{Expired: res.Expired, Files: res.Files, Bytes: res.Bytes, Kept: res.Kept}, err
}

// presignTTL is how long a redirect to the object store stays valid: long
// enough for a slow client to start, short enough not to be a standing
// link.
const presignTTL = 15 * time.Minute

// redirect is how files are redirected to the object store ([store]
// redirect = true), or nil to stream them.
func (a *App) redirect() func(context.Context, blob.Digest) (*url.URL, error) {
	p, ok := a.Store.(interface {
		Presign(context.Context, blob.Digest, time.Duration) (*url.URL, error)
	})
	if !a.Config.Store.Redirect || !ok {
		return nil
	}
	return func(ctx context.Context, d blob.Digest) (*url.URL, error) { return p.Presign(ctx, d, presignTTL) }
}

// Handler returns the HTTP handler serving the snapshots, the admin API
// under api.Prefix, the web UI under /ui/ and the metrics at /metrics.
func (a *App) Handler() http.Handler {
	a.once.Do(func() {
		a.server = serve.New(serve.Options{Catalog: a.Catalog, Store: a.Store, PublicKey: a.Signer.PublicKey(),
			Archives: a.Config.Names(), Log: a.Log, Now: func() time.Time { return a.Now() }, Redirect: a.redirect()})
		a.Events.OnChanged(a.server.Invalidate)
		a.ui = web.New(web.Options{Catalog: a.Catalog, Store: a.Store, Archives: a.Config.Names(),
			PublicURL: a.Config.PublicURL, Now: a.Now, CacheDir: a.packageLists(), Log: a.Log, MaxIndexSize: a.Config.MaxIndexSize(),
			GC: a.gcPreview})
		a.ui.Listen(a.Events)
	})
	admin := api.NewServer(api.ServerOptions{Ops: a, Tokens: a.Catalog, Log: a.Log, UploadDir: datadir.Dir(a.Config.DataDir).Uploads()})
	metrics := a.withInstallMetrics(a.Metrics.Handler())
	ui := a.ui
	// A prefix test rather than a ServeMux: a mux would redirect unclean
	// snapshot paths ("..") that the server must answer with 400.
	return a.Metrics.Count(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == HealthPath:
			a.serveHealth(w, r)
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
