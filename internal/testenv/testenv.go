// Package testenv builds what the engines' tests share: a fresh
// installation's storage (the SQLite catalog, the local store and flock
// locks) in a temporary directory, a signing key, a publisher, an event
// bus and a clock the test moves, and a signed upstream served on
// loopback by an in-process server (repogen, no real tools).
package testenv

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/sqlite"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/repogen"
)

// Clock is a settable clock: real time shifted by an offset.
type Clock struct{ off atomic.Int64 }

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Set moves the clock to t (it then runs on from there).
func (c *Clock) Set(t time.Time) { c.off.Store(int64(time.Until(t))) }

// Shift moves the clock by d.
func (c *Clock) Shift(d time.Duration) { c.off.Add(int64(d)) }

// Env is a fresh installation.
type Env struct {
	Dir       datadir.Dir
	Catalog   catalog.Catalog
	Store     *local.Store
	Locker    lock.Locker
	Signer    *pgp.Signer
	Publisher *publish.Publisher
	Events    *events.Bus
	Clock     *Clock
	// Log discards what it is given.
	Log *slog.Logger
}

// New makes an installation in a temporary directory, closed when the
// test ends.
func New(t testing.TB) *Env {
	t.Helper()
	dir := datadir.Dir(t.TempDir())
	cat, err := sqlite.Open(context.Background(), dir.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	store, err := local.Open(dir.Blobs())
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Dir: dir, Catalog: cat, Store: store, Locker: lock.NewFlock(dir.Locks()), Signer: Signer(t, "aptsnap test key"),
		Events: &events.Bus{}, Clock: &Clock{}, Log: slog.New(slog.DiscardHandler)}
	e.Publisher = publish.New(publish.Options{Catalog: cat, Store: store, Signer: e.Signer, Now: e.Clock.Now})
	return e
}

var signers sync.Map // name -> *pgp.Signer

// Signer returns a signing key for name, made once per test binary.
func Signer(t testing.TB, name string) *pgp.Signer {
	t.Helper()
	if s, ok := signers.Load(name); ok {
		return s.(*pgp.Signer)
	}
	key, err := pgp.GenerateKey(name, "test@example.invalid", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgp.ParseSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	actual, _ := signers.LoadOrStore(name, s)
	return actual.(*pgp.Signer)
}

// Upstream is a signed sample upstream repository served on loopback,
// with a hook to answer some requests otherwise (faults).
type Upstream struct {
	t testing.TB
	// Repo is what Write writes; its Dir and Signer are set.
	Repo *repogen.Repo
	// Keyring is the file of the upstream's public key.
	Keyring string
	srv     *httptest.Server
	mu      sync.Mutex
	fault   func(w http.ResponseWriter, r *http.Request) bool
	hits    atomic.Int64
}

// NewUpstream serves an empty upstream at URL(); Write fills it.
func NewUpstream(t testing.TB) *Upstream {
	t.Helper()
	dir := t.TempDir()
	signer := Signer(t, "Sample Archive Key")
	u := &Upstream{t: t, Repo: &repogen.Repo{Dir: filepath.Join(dir, "repo"), Origin: "Debian", Label: "Debian", Signer: signer, ByHash: true},
		Keyring: filepath.Join(dir, "keyring.asc")}
	if err := os.WriteFile(u.Keyring, signer.PublicKey(), 0o644); err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(u.Repo.Dir))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		f := u.fault
		u.mu.Unlock()
		if f != nil && f(w, r) {
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// URL is the upstream's base URL.
func (u *Upstream) URL() string { return u.srv.URL }

// Hits is the number of requests served so far.
func (u *Upstream) Hits() int64 { return u.hits.Load() }

// SetFault has f answer requests first; f returns true when it answered.
// nil serves the files again.
func (u *Upstream) SetFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	u.mu.Lock()
	u.fault = f
	u.mu.Unlock()
}

// Write writes suites as the upstream's contents.
func (u *Upstream) Write(suites ...repogen.Suite) {
	u.t.Helper()
	u.Repo.Suites = suites
	if err := u.Repo.Write(); err != nil {
		u.t.Fatal(err)
	}
}
