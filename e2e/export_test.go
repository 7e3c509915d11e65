package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/export"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/webserver"
)

const nginxBin = "/usr/sbin/nginx"

// nginx is a private nginx run unprivileged on a test port: the main
// configuration a test needs around a generated site configuration.
// webServer is a web server process (nginx, apache2) run for a test.
type webServer struct {
	name string
	dir  string
	base string
	cmd  *exec.Cmd
	out  *lockedBuffer
}

// startWebServer starts cmd (its output going to the returned server's),
// stops it with stop when the test ends, and waits until base answers.
func startWebServer(t *testing.T, name, dir, base string, cmd *exec.Cmd, stop syscall.Signal) *webServer {
	t.Helper()
	w := &webServer{name: name, dir: dir, base: base, cmd: cmd, out: &lockedBuffer{mu: &sync.Mutex{}, buf: &bytes.Buffer{}}}
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/keys/aptsnap.asc")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("%s exited:\n%s", name, w.output())
		case <-time.After(50 * time.Millisecond):
		}
		if i > 200 {
			t.Fatalf("%s does not answer: %v\n%s", name, err, w.output())
		}
	}
	return w
}

func (w *webServer) output() string {
	w.out.mu.Lock()
	defer w.out.mu.Unlock()
	return w.out.buf.String()
}

func needNginx(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(nginxBin); err != nil {
		t.Skip("nginx not installed (Debian package nginx)")
	}
}

// nginxConf wraps a site configuration into a main one whose paths are
// all in dir.
func nginxConf(t *testing.T, dir, site string) string {
	t.Helper()
	for _, d := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;\n" // the test's directories are private to it
	}
	conf := filepath.Join(dir, "nginx.conf")
	text := user + fmt.Sprintf(`worker_processes 2;
events { worker_connections 512; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    include %[1]s/site.conf;
}
`, dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

func nginxGlobals(dir string) string {
	return "daemon off; pid " + filepath.Join(dir, "nginx.pid") + "; error_log stderr warn;"
}

// nginxTest runs nginx -t on a site configuration.
func nginxTest(t *testing.T, site string) {
	t.Helper()
	dir := t.TempDir()
	conf := nginxConf(t, dir, site)
	out, err := exec.Command(nginxBin, "-t", "-p", dir, "-c", conf, "-g", nginxGlobals(dir)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t: %v\n%s\nsite:\n%s", err, out, site)
	}
}

// startNginx runs nginx with a site configuration listening on port.
func startNginx(t *testing.T, site string, port int) *webServer {
	t.Helper()
	dir := t.TempDir()
	conf := nginxConf(t, dir, site)
	return startWebServer(t, "nginx", dir, fmt.Sprintf("http://127.0.0.1:%d", port),
		exec.Command(nginxBin, "-p", dir, "-c", conf, "-g", nginxGlobals(dir)), syscall.SIGQUIT) // QUIT: graceful
}

// fetch GETs base+path: status, body, headers.
func fetch(t *testing.T, c *http.Client, url string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// snapshotPaths lists every path a snapshot serves below its root
// (dists/... and pool/...) with the SHA-256 of its content, from the
// catalog: each index file with its by-hash path, each pool file its
// Packages lists, and the Release files.
func snapshotPaths(t *testing.T, e *env, s catalog.Snapshot) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, name := range s.Suites {
		su, err := e.app.Catalog.Suite(ctx, s.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		byPath := map[string]catalog.IndexFile{}
		for _, f := range su.Files {
			byPath[f.Path] = f
			out["dists/"+name+"/"+f.Path] = f.SHA256.String()
			if dir := filepath.Dir(f.Path); dir != "." {
				out["dists/"+name+"/"+dir+"/by-hash/SHA256/"+f.SHA256.String()] = f.SHA256.String()
			}
		}
		for file, data := range map[string][]byte{"Release": su.Release, "InRelease": su.InRelease, "Release.gpg": su.ReleaseGPG} {
			out["dists/"+name+"/"+file] = blob.Sum(data).String()
		}
		data, err := index.ReadSuite(ctx, e.app.Store, byPath, "main/binary-amd64/Packages", 0)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := index.PoolFiles("Packages", data)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range entries {
			out[p.Path] = p.SHA256.String()
		}
	}
	return out
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// TestExportNginx: several pulses and a tag exported with the binary,
// served by the real nginx with the configuration webserver-config prints:
// every file of every snapshot byte for byte as aptsnap serves it, with
// the caching headers and types; nothing of the export's own; and the
// real apt-get update and download through nginx from a serial URL, a
// timestamp URL (proxied to aptsnap) and a tag.
func TestExportNginx(t *testing.T) {
	needNginx(t)
	bin := aptsnapBinary(t)
	e := newEnv(t)
	ctx := context.Background()
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	e.clock.Set(t0)
	s1 := e.mustPulse()
	e.up.write(1)
	e.clock.Set(t0.Add(time.Hour))
	s2 := e.mustPulse()
	e.up.write(2)
	e.clock.Set(time.Now())
	s3 := e.mustPulse()
	if _, err := e.app.TagCreate(ctx, "7.0", map[string]string{"debian": s1.Serial}, nil); err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, bin: bin, config: e.writeConfig(t)}
	dir := filepath.Join(t.TempDir(), "export")
	out := c.local("export", "--dir", dir)
	if !strings.Contains(out, "4 snapshot tree(s); 4 added, 0 replaced, 0 removed") || !strings.Contains(out, "hard-linked from the store") {
		t.Errorf("export said: %s", out)
	}
	// Again: nothing to do.
	if out := c.local("export", "--dir", dir); !strings.Contains(out, "4 snapshot tree(s); 0 added, 0 replaced, 0 removed; 0 file(s)") {
		t.Errorf("export again said: %s", out)
	}

	port := freePort(t)
	site := c.local("webserver-config", "nginx", "--export", dir, "--name", "localhost", "--aptsnap", e.srv.URL,
		"--no-tls", "--http-listen", fmt.Sprintf("127.0.0.1:%d", port))
	nginxTest(t, site)
	// The full configuration (HTTPS too) passes nginx -t with a certificate.
	_, certFile, keyFile := writeServerCert(t, t.TempDir())
	nginxTest(t, c.local("webserver-config", "nginx", "--export", dir, "--name", "localhost", "--aptsnap", e.srv.URL,
		"--cert", certFile, "--key", keyFile, "--http-listen", fmt.Sprint(freePort(t)), "--https-listen", fmt.Sprint(freePort(t))))
	ng := startNginx(t, site, port)
	hc := &http.Client{Timeout: 30 * time.Second}

	// Every file, as aptsnap serves it.
	for _, s := range []struct {
		snap catalog.Snapshot
		root string
	}{{s1, "/debian/" + s1.Serial}, {s2, "/debian/" + s2.Serial}, {s3, "/debian/" + s3.Serial}} {
		paths := snapshotPaths(t, e, s.snap)
		for p, want := range paths {
			code, body, _ := fetch(t, hc, ng.base+s.root+"/"+p)
			if code != 200 || sum(body) != want {
				t.Fatalf("nginx %s/%s: %d, sha256 %s, want %s", s.root, p, code, sum(body), want)
			}
			if _, ab := e.get(s.root + "/" + p); ab != string(body) {
				t.Fatalf("nginx and aptsnap differ on %s/%s", s.root, p)
			}
		}
	}
	tag, err := e.app.Catalog.Snapshot(ctx, "debian", catalog.TagSerial("7.0"))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range snapshotPaths(t, e, tag) {
		if code, body, _ := fetch(t, hc, ng.base+"/tagged/7.0/debian/"+p); code != 200 || sum(body) != want {
			t.Fatalf("nginx tagged %s: %d", p, code)
		}
	}
	// The plain Packages the server decompresses on the fly is a file.
	root := "/debian/" + s2.Serial + "/dists/bookworm/"
	for _, tt := range []struct{ path, cache, ctype string }{
		{root + "InRelease", webserver.CacheShort, "text/plain; charset=utf-8"},
		{root + "Release.gpg", webserver.CacheShort, "application/pgp-signature"},
		{root + "main/binary-amd64/Packages", webserver.CacheShort, "text/plain; charset=utf-8"},
		{root + "main/binary-amd64/Packages.xz", webserver.CacheShort, "application/x-xz"},
		{"/debian/" + s2.Serial + "/pool/main/h/hello/hello_2.10-2_amd64.deb", webserver.CacheImmutable, "application/vnd.debian.binary-package"},
		{"/debian/project/trace/debian", webserver.CacheShort, "text/plain; charset=utf-8"},
		{"/keys/aptsnap.asc", "public, max-age=3600", "application/pgp-keys"},
	} {
		code, _, h := fetch(t, hc, ng.base+tt.path)
		if code != 200 || h.Get("Cache-Control") != tt.cache || h.Get("Content-Type") != tt.ctype {
			t.Errorf("%s: %d, Cache-Control %q, Content-Type %q; want 200, %q, %q", tt.path, code, h.Get("Cache-Control"), h.Get("Content-Type"), tt.cache, tt.ctype)
		}
	}
	_, rel, _ := fetch(t, hc, ng.base+root+"Release")
	r, err := release.Parse(rel)
	if err != nil {
		t.Fatal(err)
	}
	byHash := root + "main/binary-amd64/by-hash/SHA256/" + r.Files["main/binary-amd64/Packages.xz"].SHA256.String()
	if code, body, h := fetch(t, hc, ng.base+byHash); code != 200 || h.Get("Cache-Control") != webserver.CacheImmutable ||
		sum(body) != r.Files["main/binary-amd64/Packages.xz"].SHA256.String() {
		t.Errorf("%s: %d %q", byHash, code, h.Get("Cache-Control"))
	}
	if _, body, _ := fetch(t, hc, ng.base+"/debian/project/trace/debian"); !strings.HasPrefix(string(body), "Archive serial: "+s3.Serial+"\nDate: ") {
		t.Errorf("trace file: %q", body)
	}
	if _, body, _ := fetch(t, hc, ng.base+"/keys/aptsnap.asc"); string(body) != string(e.app.Signer.PublicKey()) {
		t.Error("the key served is not aptsnap's")
	}
	// Nothing else: the export's bookkeeping, directories, unknown serials.
	for _, p := range []string{"/.aptsnap/export", "/.aptsnap/state.json", "/.aptsnap/by-sha256/", "/debian/", "/debian/" + s2.Serial + "/",
		"/debian/" + s2.Serial + "/dists/", "/debian/2020010101/dists/bookworm/InRelease", "/tagged/", "/tagged/7.0/debian/dists/nosuch/InRelease"} {
		if code, _, h := fetch(t, hc, ng.base+p); code != 404 || h.Get("Cache-Control") != "" {
			t.Errorf("%s: %d (Cache-Control %q), want 404", p, code, h.Get("Cache-Control"))
		}
	}
	// What only aptsnap answers is proxied.
	checkThroughWebServer(t, e, hc, ng.base, "nginx", ng.output, s1, s2)
}

// exportEnv is an env with an export kept in step in this process and
// served by nginx.
type exportEnv struct {
	*env
	x      *export.Exporter
	dir    string
	ng     *webServer
	cancel context.CancelFunc
	done   chan struct{}
}

// newExportEnv exports e into dir and serves it with nginx; follow keeps
// it in step (on every change and every 200 ms).
func newExportEnv(t *testing.T, e *env, dir string, follow bool) *exportEnv {
	t.Helper()
	x, err := e.app.OpenExport(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if _, err := x.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	site, err := webserver.Nginx(webserver.Site{Name: "localhost", Export: dir, Aptsnap: e.srv.URL, NoTLS: true,
		HTTPListen: fmt.Sprintf("127.0.0.1:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	xe := &exportEnv{env: e, x: x, dir: dir, ng: startNginx(t, string(site), port)}
	if follow {
		ctx, cancel := context.WithCancel(context.Background())
		wake := make(chan struct{}, 1)
		e.app.Events.OnChanged(func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		xe.cancel, xe.done = cancel, make(chan struct{})
		go func() { defer close(xe.done); x.Follow(ctx, 200*time.Millisecond, wake) }()
		t.Cleanup(xe.stop)
	}
	return xe
}

func (xe *exportEnv) stop() {
	if xe.cancel != nil {
		xe.cancel()
		<-xe.done
		xe.cancel = nil
	}
}

// trees lists the snapshot trees in the export directory.
func (xe *exportEnv) trees() []string {
	var out []string
	ents, _ := os.ReadDir(filepath.Join(xe.dir, "debian"))
	for _, e := range ents {
		if e.Name() != "project" {
			out = append(out, e.Name())
		}
	}
	return out
}

// checker reads whole snapshots through nginx and checks every file
// against what the snapshot's InRelease (signed by aptsnap's key) lists,
// and every pool file against its Packages.
type checker struct {
	t        *testing.T
	e        *env
	base     string
	kr       *pgp.Keyring
	hc       *http.Client
	seen     sync.Map // serial -> true once its InRelease was served
	requests atomic.Int64
	mu       sync.Mutex
	problems []string
}

func (c *checker) fail(serial, format string, args ...any) {
	// A file of a snapshot withdrawn meanwhile may be gone: not a problem.
	if _, err := c.e.app.Catalog.Snapshot(context.Background(), "debian", serial); errors.Is(err, catalog.ErrNotFound) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(serial+": "+format, args...))
	}
}

func (c *checker) get(p string) (int, []byte, error) {
	c.requests.Add(1)
	resp, err := c.hc.Get(c.base + p)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// check reads one snapshot whole; it returns false if the export does not
// have it (yet).
func (c *checker) check(serial string) bool {
	root := "/debian/" + serial + "/dists/"
	for _, suite := range []string{"bookworm", "bookworm-updates"} {
		code, in, err := c.get(root + suite + "/InRelease")
		if err != nil {
			c.fail(serial, "InRelease: %v", err)
			return true
		}
		if code == 404 {
			if _, seen := c.seen.Load(serial); seen {
				c.fail(serial, "%s/InRelease: 404 after it was served", suite)
			}
			return false
		}
		c.seen.Store(serial, true)
		plain, _, err := c.kr.VerifyClearsigned(in)
		if code != 200 || err != nil {
			c.fail(serial, "%s/InRelease: %d, does not verify: %v", suite, code, err)
			return true
		}
		r, err := release.Parse(plain)
		if err != nil {
			c.fail(serial, "%s/InRelease does not parse: %v", suite, err)
			return true
		}
		if vu, _ := r.ValidUntil(); vu.IsZero() {
			c.fail(serial, "%s/InRelease without Valid-Until", suite)
		}
		var packages []byte
		for p, f := range r.Files {
			for _, u := range []string{p, filepath.Dir(p) + "/by-hash/SHA256/" + f.SHA256.String()} {
				code, body, err := c.get(root + suite + "/" + u)
				if err != nil || code != 200 || sum(body) != f.SHA256.String() {
					c.fail(serial, "%s/%s: %d %v, sha256 %s, Release lists %s", suite, u, code, err, sum(body), f.SHA256)
				}
				if p == "main/binary-amd64/Packages" {
					packages = body
				}
			}
		}
		entries, err := index.PoolFiles("Packages", packages)
		if err != nil || len(entries) == 0 {
			c.fail(serial, "%s: Packages: %d entries, %v", suite, len(entries), err)
		}
		for _, pe := range entries {
			code, body, err := c.get("/debian/" + serial + "/" + pe.Path)
			if err != nil || code != 200 || sum(body) != pe.SHA256.String() {
				c.fail(serial, "%s: %d %v, sha256 %s, Packages lists %s", pe.Path, code, err, sum(body), pe.SHA256)
			}
		}
	}
	return true
}

// TestExportConsistentUnderLoad: readers fetch every file of the live
// snapshots through nginx, checked against the SHA-256 the signed
// InRelease lists, while pulses, a bump, a withdrawal and GC run and the
// export follows: no 404 for a file of a live snapshot, no checksum
// mismatch, InRelease always verifies and parses. Afterwards the export
// holds exactly the catalog's snapshots, the bumped one re-signed, and
// no file only collected snapshots had.
func TestExportConsistentUnderLoad(t *testing.T) {
	needNginx(t)
	e := newEnv(t)
	ctx := context.Background()
	e.up.write(0, manyPackages(150))
	expired := e.pulseAt(time.Now().Add(-11 * 24 * time.Hour)) // collected by the GC below
	e.up.write(1, manyPackages(150))
	live := e.mustPulse()
	xe := newExportEnv(t, e, filepath.Join(t.TempDir(), "export"), true)
	kr, err := pgp.ParseKeyring(e.app.Signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{t: t, e: e, base: xe.ng.base, kr: kr, hc: &http.Client{Timeout: 30 * time.Second}}
	// A file only the expired snapshot has, in the export now.
	var onlyExpired string
	{
		a, b := snapshotPaths(t, e, expired), snapshotPaths(t, e, live)
		for p, d := range a {
			if strings.HasPrefix(p, "pool/") && !slices.Contains(mapValues(b), d) {
				onlyExpired = filepath.Join(xe.dir, export.MetaDir, "by-sha256", d[:2], d)
				break
			}
		}
		if _, err := os.Stat(onlyExpired); err != nil {
			t.Fatalf("no file only the expired snapshot has in the export: %v", err)
		}
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var rounds atomic.Int64
	for i := range 4 {
		readers.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				serials := e.serials()
				if c.check(serials[(n+i)%len(serials)]) {
					rounds.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	var bumped string
	for g := 2; g <= 5; g++ {
		e.up.write(g, manyPackages(150))
		e.mustPulse()
		switch g {
		case 3:
			if _, err := e.app.Bump(ctx, "debian", live.Serial, 30, false); err != nil {
				t.Fatal(err)
			}
			bumped = live.Serial
		case 4:
			s := e.serials()
			if _, err := e.app.Expire(ctx, "debian", s[len(s)-2]); err != nil { // withdraw the one before the newest
				t.Fatal(err)
			}
			e.ageStore(time.Hour)
			res, err := e.app.GC(ctx, false)
			if err != nil || len(res.Expired) != 1 || res.Expired[0].Serial != expired.Serial || res.Files == 0 {
				t.Fatalf("gc: %+v %v", res, err)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The export catches up; the readers go on over it a while.
	waitUntil(t, "the export holding exactly the catalog's snapshots", func() bool {
		return slices.Equal(xe.trees(), e.serials())
	})
	time.Sleep(500 * time.Millisecond)
	close(stop)
	readers.Wait()
	if len(c.problems) > 0 {
		t.Fatalf("%d requests; problems:\n%s", c.requests.Load(), strings.Join(c.problems, "\n"))
	}
	if rounds.Load() < 10 {
		t.Errorf("only %d whole snapshots read", rounds.Load())
	}
	t.Logf("%d requests, %d whole snapshots read, no problem", c.requests.Load(), rounds.Load())

	// The bumped snapshot's re-signed Release is the one served.
	snap, _ := e.app.Catalog.Snapshot(ctx, "debian", bumped)
	su, _ := e.app.Catalog.Suite(ctx, snap.ID, "bookworm")
	if code, body, _ := fetch(t, c.hc, xe.ng.base+"/debian/"+bumped+"/dists/bookworm/InRelease"); code != 200 || string(body) != string(su.InRelease) {
		t.Errorf("bumped snapshot: InRelease served is not the re-signed one (%d)", code)
	}
	// The collected snapshot is gone, with the file only it had.
	if code, _, _ := fetch(t, c.hc, xe.ng.base+"/debian/"+expired.Serial+"/dists/bookworm/InRelease"); code != 404 {
		t.Errorf("collected snapshot still served: %d", code)
	}
	if _, err := os.Stat(onlyExpired); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file only the collected snapshot had is still in the export: %v", err)
	}
	if _, body, _ := fetch(t, c.hc, xe.ng.base+"/debian/project/trace/debian"); !strings.HasPrefix(string(body), "Archive serial: "+e.serials()[len(e.serials())-1]+"\n") {
		t.Errorf("trace file: %q", body)
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestExportOutlivesStoreGC: the store's GC deletes the files of a
// collected snapshot while the export still serves it (it has not synced
// since): the hard links keep them, nginx serves them whole; the next sync
// takes the snapshot and its files out of the export.
func TestExportOutlivesStoreGC(t *testing.T) {
	needNginx(t)
	e := newEnv(t)
	ctx := context.Background()
	expired := e.pulseAt(time.Now().Add(-11 * 24 * time.Hour))
	e.up.write(1)
	e.mustPulse()
	xe := newExportEnv(t, e, filepath.Join(t.TempDir(), "export"), false)
	paths := snapshotPaths(t, e, expired)
	stored := e.storedFiles()
	e.ageStore(time.Hour)
	res, err := e.app.GC(ctx, false)
	if err != nil || len(res.Expired) != 1 || res.Files == 0 {
		t.Fatalf("gc: %+v %v", res, err)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	gone := map[blob.Digest]bool{}
	for p, want := range paths {
		d, _ := blob.ParseDigest(want)
		if _, err := e.app.Store.Stat(ctx, d); stored[d] && errors.Is(err, blob.ErrNotFound) {
			gone[d] = true
		}
		if code, body, _ := fetch(t, hc, xe.ng.base+"/debian/"+expired.Serial+"/"+p); code != 200 || sum(body) != want {
			t.Fatalf("%s after the store's GC: %d, sha256 %s, want %s", p, code, sum(body), want)
		}
	}
	if len(gone) == 0 {
		t.Fatal("the GC deleted no file of the collected snapshot from the store")
	}
	t.Logf("%d files of the collected snapshot deleted from the store, all still served from the export", len(gone))
	r, err := xe.x.Sync(ctx)
	if err != nil || len(r.Removed) != 1 || r.Pruned < len(gone) {
		t.Fatalf("sync after GC: %+v %v (want 1 removed, at least %d pruned)", r, err, len(gone))
	}
	for d := range gone {
		if _, err := os.Stat(filepath.Join(xe.dir, export.MetaDir, "by-sha256", d.String()[:2], d.String())); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still in the export: %v", d, err)
		}
	}
	if code, _, _ := fetch(t, hc, xe.ng.base+"/debian/"+expired.Serial+"/dists/bookworm/InRelease"); code != 404 {
		t.Errorf("collected snapshot served after the sync: %d", code)
	}
}

// TestExportRefusesForeignDir: a directory that is not empty and not an
// export is refused and left as it was; an empty one is taken.
func TestExportRefusesForeignDir(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnv(t)
	e.mustPulse()
	c := &cli{t: t, bin: bin, config: e.writeConfig(t)}
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "index.html"), []byte("<p>mine</p>\n"), 0o644)
	out, errOut, err := c.run("", "--config", c.config, "export", "--dir", foreign)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(errOut, "is not empty and is not an aptsnap export") {
		t.Fatalf("export into a foreign directory: %v\n%s%s", err, out, errOut)
	}
	if ents, _ := os.ReadDir(foreign); len(ents) != 1 {
		t.Errorf("the foreign directory was changed: %v", ents)
	}
	empty := t.TempDir()
	if out := c.local("export", "--dir", empty); !strings.Contains(out, "1 snapshot tree(s); 1 added") {
		t.Errorf("export into an empty directory: %s", out)
	}
	if _, err := os.Stat(filepath.Join(empty, ".aptsnap", "export")); err != nil {
		t.Error(err)
	}
	// Usage errors.
	_, errOut, err = c.run("", "--config", c.config, "export")
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(errOut, "--dir") {
		t.Errorf("export without --dir: %v %s", err, errOut)
	}
	_, errOut, err = c.run("", "webserver-config", "nginx", "--name", "localhost")
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(errOut, "--export DIR") {
		t.Errorf("webserver-config without --export: %v %s", err, errOut)
	}
}

// TestExportOtherFilesystem: an export on another file system than the
// store (a tmpfs) is made of copies, with a warning, and outlives the
// store's GC as well.
func TestExportOtherFilesystem(t *testing.T) {
	var st, dt syscall.Stat_t
	shm := "/dev/shm"
	tmp := t.TempDir()
	if syscall.Stat(shm, &st) != nil || syscall.Stat(tmp, &dt) != nil || st.Dev == dt.Dev {
		t.Skip("no /dev/shm on another file system than the temporary directory")
	}
	dir, err := os.MkdirTemp(shm, "aptsnap-export-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := newEnv(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	e.app.Log = slog.New(slog.NewTextHandler(lockedBuffer{mu: &mu, buf: &logs}, nil))
	s := e.mustPulse()
	x, err := e.app.OpenExport(context.Background(), filepath.Join(dir, "export"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	res, err := x.Sync(context.Background())
	if err != nil || res.Copied == 0 || res.Linked != 0 || !x.Copying() {
		t.Fatalf("sync: %+v %v", res, err)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "another file system than the store: files are copied") {
		t.Errorf("no warning about copies:\n%s", logs.String())
	}
	mu.Unlock()
	store := e.app.Store.(*local.Store)
	for p, want := range snapshotPaths(t, e, s) {
		f := filepath.Join(dir, "export", "debian", s.Serial, p)
		data, err := os.ReadFile(f)
		if err != nil || sum(data) != want {
			t.Fatalf("%s: %v, sha256 %s, want %s", p, err, sum(data), want)
		}
		d, _ := blob.ParseDigest(want)
		fi, _ := os.Stat(f)
		if si, err := os.Stat(store.Path(d)); err == nil && os.SameFile(fi, si) {
			t.Fatalf("%s is the store's file, not a copy", p)
		}
	}
}

// TestServeKeepsExport: `serve` with [export] dir keeps the export in
// step: a pulse appears in it, a bump's re-signed Release replaces the
// old one, a tag comes and goes, an untracked suite leaves.
func TestServeKeepsExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "export")
	e := newEnvWith(t, fmt.Sprintf("\n[export]\ndir = %q\n", dir))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s1 := e.mustPulse()
	done := make(chan error, 1)
	go func() { done <- e.app.ServeListener(ctx, mustListen(t), false) }()
	inRelease := func(serial string) []byte {
		b, _ := os.ReadFile(filepath.Join(dir, "debian", serial, "dists", "bookworm", "InRelease"))
		return b
	}
	waitUntil(t, "the first snapshot exported", func() bool { return len(inRelease(s1.Serial)) > 0 })
	e.up.write(1)
	s2 := e.mustPulse()
	waitUntil(t, "the pulse's snapshot exported", func() bool { return len(inRelease(s2.Serial)) > 0 })
	if _, err := e.app.Bump(context.Background(), "debian", s1.Serial, 20, false); err != nil {
		t.Fatal(err)
	}
	snap, _ := e.app.Catalog.Snapshot(context.Background(), "debian", s1.Serial)
	su, _ := e.app.Catalog.Suite(context.Background(), snap.ID, "bookworm")
	waitUntil(t, "the bump's Release exported", func() bool { return bytes.Equal(inRelease(s1.Serial), su.InRelease) })
	trace, _ := os.ReadFile(filepath.Join(dir, "debian", "project", "trace", "debian"))
	if !strings.HasPrefix(string(trace), "Archive serial: "+s2.Serial+"\n") {
		t.Errorf("trace: %q", trace)
	}
	// A tag comes and goes; an untracked suite leaves every snapshot.
	bg := context.Background()
	tagged := filepath.Join(dir, "tagged", "8.0", "debian", "dists", "bookworm", "InRelease")
	if _, err := e.app.TagCreate(bg, "8.0", map[string]string{"debian": s2.Serial}, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the tag exported", func() bool { _, err := os.Stat(tagged); return err == nil })
	if _, err := e.app.TagDelete(bg, "8.0", false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deleted tag gone", func() bool { _, err := os.Stat(filepath.Join(dir, "tagged", "8.0")); return os.IsNotExist(err) })
	if _, err := e.app.Untrack(bg, "debian", []string{"bookworm-updates"}, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{s1.Serial, s2.Serial} {
		waitUntil(t, "bookworm-updates gone from "+s, func() bool {
			_, err := os.Stat(filepath.Join(dir, "debian", s, "dists", "bookworm-updates"))
			return os.IsNotExist(err)
		})
		if len(inRelease(s)) == 0 {
			t.Errorf("%s: bookworm gone with bookworm-updates", s)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// checkThroughWebServer checks what a web server in front of aptsnap
// proxies (health, UI, metrics; a token over plain HTTP refused) and that
// the real apt-get works through it from a serial URL (s2), a timestamp
// URL after s1 (proxied) and the tag 7.0 (of s1).
func checkThroughWebServer(t *testing.T, e *env, hc *http.Client, base, server string, output func() string, s1, s2 catalog.Snapshot) {
	t.Helper()
	if code, body, _ := fetch(t, hc, base+"/api/v1/health"); code != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("/api/v1/health through %s: %d %s", server, code, body)
	}
	if code, body, _ := fetch(t, hc, base+"/ui/"); code != 200 || !strings.Contains(string(body), "debian") {
		t.Errorf("/ui/ through %s: %d", server, code)
	}
	if code, body, _ := fetch(t, hc, base+"/metrics"); code != 200 || !strings.Contains(string(body), "aptsnap_") {
		t.Errorf("/metrics through %s: %d", server, code)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/tokens", nil)
	req.Header.Set("Authorization", "Bearer aptsnap_x")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("a token over plain HTTP through %s: %v %v", server, resp, err)
	} else {
		resp.Body.Close()
	}

	key := string(e.app.Signer.PublicKey())
	ts := s1.Created.Add(30 * time.Minute).UTC().Format("20060102T150405Z")
	for _, tt := range []struct{ name, base, hello string }{
		{"serial", "/debian/" + s2.Serial + "/", "2.10-2"},
		{"timestamp (proxied to aptsnap)", "/debian/" + ts + "/", "2.10-1"},
		{"tag", "/tagged/7.0/debian/", "2.10-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPTFor(t, "deb [signed-by=$ROOT/aptsnap.asc] "+base+tt.base+" bookworm main\n"+
				"deb [signed-by=$ROOT/aptsnap.asc] "+base+tt.base+" bookworm-updates main\n", key)
			if out, err := a.Run("update"); err != nil {
				t.Fatalf("apt-get update through %s: %v\n%s\n%s", server, err, out, output())
			}
			if got := candidate(t, a, "hello"); got != tt.hello {
				t.Errorf("hello candidate %s, want %s", got, tt.hello)
			}
			if out, err := a.Run("download", "hello", "tzdata"); err != nil {
				t.Fatalf("apt-get download through %s: %v\n%s", server, err, out)
			}
			if _, err := os.Stat(filepath.Join(a.Root(), "download", "hello_"+tt.hello+"_amd64.deb")); err != nil {
				t.Fatal(err)
			}
		})
	}
}
