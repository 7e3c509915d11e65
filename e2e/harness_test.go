// Package e2e tests aptsnap end to end: a signed sample upstream served on
// loopback, real pulses into a real catalog and store, the real HTTP
// server, and the real apt-get fetching from it.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
)

// clock is a settable clock; zero offset means real time.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time        { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Set(t time.Time)       { c.off.Store(int64(time.Until(t))) }
func (c *clock) Shift(d time.Duration) { c.off.Add(int64(d)) }

// upstream is a sample upstream repository served on loopback, with a hook
// to inject faults.
type upstream struct {
	t       *testing.T
	dir     string
	signer  *pgp.Signer
	keyring string
	srv     *httptest.Server
	mu      sync.Mutex
	fault   func(w http.ResponseWriter, r *http.Request) bool // returns true if it answered
	hits    atomic.Int64
	gen     int
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	dir := t.TempDir()
	key, err := pgp.GenerateKey("Sample Archive Key", "archive@example.invalid", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := pgp.ParseSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{t: t, dir: dir, signer: signer, keyring: filepath.Join(dir, "keyring.asc")}
	if err := os.WriteFile(u.keyring, signer.PublicKey(), 0o644); err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(filepath.Join(dir, "repo")))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		f := u.fault
		u.mu.Unlock()
		if f != nil && f(w, r) {
			return
		}
		http.StripPrefix("/debian", files).ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	u.mu.Lock()
	u.fault = f
	u.mu.Unlock()
}

func (u *upstream) url() string { return u.srv.URL + "/debian" }

// generation returns the packages of generation g: hello moves to a new
// version every generation, the rest stay.
func generation(g int) map[string][]repogen.Package {
	return map[string][]repogen.Package{
		"main": {
			{Name: "hello", Version: fmt.Sprintf("2.10-%d", g+1), Arch: "amd64", Description: "example package based on GNU hello"},
			{Name: "libfoo1", Version: "1.0-1", Arch: "amd64", Description: "a library"},
			{Name: "docs-common", Version: "3.0", Arch: "all", Description: "shared documentation"},
		},
	}
}

// write (re)writes the upstream tree for generation g, dated g hours after base.
func (u *upstream) write(g int, mutate ...func(*repogen.Repo)) {
	u.t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &repogen.Repo{
		Dir: filepath.Join(u.dir, "repo"), Origin: "Debian", Label: "Debian", Signer: u.signer, ByHash: true,
		Suites: []repogen.Suite{
			{Name: "bookworm", Components: generation(g), Architectures: []string{"amd64"}, Date: base.Add(time.Duration(g) * time.Hour)},
			{Name: "bookworm-updates", Components: map[string][]repogen.Package{"main": {
				{Name: "tzdata", Version: fmt.Sprintf("2026a-0+deb12u%d", g+1), Arch: "all", Description: "time zone data"},
			}}, Architectures: []string{"amd64"}, Date: base.Add(time.Duration(g) * time.Hour)},
		},
	}
	for _, m := range mutate {
		m(r)
	}
	if err := r.Write(); err != nil {
		u.t.Fatal(err)
	}
	u.gen = g
}

// env is an aptsnap installation mirroring one upstream, served on loopback.
type env struct {
	t     *testing.T
	up    *upstream
	clock *clock
	cfg   *config.Config
	app   *app.App
	srv   *httptest.Server
	// extra is configuration appended to the generated one.
	extra string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, "")
}

// newEnvWith is newEnv with more configuration (for example [[custom]]
// archives) appended; "{{PORT}}" in it becomes the server's port,
// "{{UPSTREAM}}" and "{{KEYRING}}" the upstream's URL and keyring.
func newEnvWith(t *testing.T, extra string) *env {
	t.Helper()
	up := newUpstream(t)
	up.write(0)
	e := &env{t: t, up: up, clock: &clock{}}
	var h atomic.Pointer[http.Handler]
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	cfgText := fmt.Sprintf(`
data_dir = %q
listen = "127.0.0.1:0"
public_url = %q
parallel_downloads = 4

[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["bookworm", "bookworm-updates"]
components = ["main"]
architectures = ["amd64"]
pulses_per_day = 4
valid_days = 10
`, filepath.Join(t.TempDir(), "data"), e.srv.URL, up.url(), up.keyring)
	e.extra = strings.NewReplacer("{{PORT}}", e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:],
		"{{UPSTREAM}}", up.url(), "{{KEYRING}}", up.keyring).Replace(extra)
	cfg, err := config.Parse([]byte(cfgText + e.extra))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	a.Now = e.clock.Now
	e.app = a
	handler := a.Handler()
	h.Store(&handler)
	return e
}

func (e *env) pulse() (catalog.Snapshot, error) {
	return e.app.Pulse(context.Background(), "debian")
}

func (e *env) mustPulse() catalog.Snapshot {
	e.t.Helper()
	s, err := e.pulse()
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// get fetches a path from aptsnap and returns status and body.
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// serials returns the archive's serials, oldest first.
func (e *env) serials() []string {
	e.t.Helper()
	snaps, err := e.app.Catalog.Snapshots(context.Background(), "debian")
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, s := range snaps {
		out = append(out, s.Serial)
	}
	return out
}

// fingerprint fetches every file a snapshot serves (Release files, indices,
// pool files listed in its Packages) and returns path -> body, to compare
// before and after an event.
func (e *env) fingerprint(serial string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, suite := range []string{"bookworm", "bookworm-updates"} {
		base := "/debian/" + serial + "/dists/" + suite + "/"
		for _, f := range []string{"InRelease", "Release", "Release.gpg", "main/binary-amd64/Packages", "main/binary-amd64/Packages.gz", "main/binary-amd64/Packages.xz"} {
			code, body := e.get(base + f)
			if code != 200 {
				e.t.Fatalf("GET %s%s: %d", base, f, code)
			}
			out[base+f] = body
			if f == "main/binary-amd64/Packages" {
				for _, line := range strings.Split(body, "\n") {
					if p, ok := strings.CutPrefix(line, "Filename: "); ok {
						code, pb := e.get("/debian/" + serial + "/" + p)
						if code != 200 {
							e.t.Fatalf("GET pool %s: %d", p, code)
						}
						out[p] = pb
					}
				}
			}
		}
	}
	return out
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

func ioCopy(w io.Writer, r io.Reader) (int64, error) { return io.Copy(w, r) }
