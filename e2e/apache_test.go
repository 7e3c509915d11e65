package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/webserver"
)

const apacheBin = "/usr/sbin/apache2"

// apache is a private apache2 run on a test port: a minimal httpd.conf
// around a generated site configuration.
func needApache(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(apacheBin); err != nil {
		t.Skip("apache2 not installed (Debian package apache2: scripts/install-deps)")
	}
}

// apacheConf writes site and a main configuration around it into dir:
// every path in dir, the modules the site needs from Debian's package
// (those built in skipped). As root, the workers run as nobody: the
// directories leading to the served paths are opened to them.
func apacheConf(t *testing.T, dir, site string, open ...string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot %[1]s\nPidFile %[1]s/apache2.pid\nErrorLog /dev/stderr\nLogLevel warn\nDefaultRuntimeDir %[1]s\nServerName localhost\nTypesConfig /etc/mime.types\n", dir)
	for _, m := range []string{"mpm_event", "authz_core", "alias", "rewrite", "proxy", "proxy_http", "headers", "mime", "ssl", "dir", "log_config", "unixd"} {
		fmt.Fprintf(&b, "<IfModule !%[1]s_module>\n    LoadModule %[1]s_module /usr/lib/apache2/modules/mod_%[1]s.so\n</IfModule>\n", m)
	}
	if os.Geteuid() == 0 {
		b.WriteString("User #65534\nGroup #65534\n")
		for _, p := range open {
			for d := p; d != "/" && d != "."; d = filepath.Dir(d) {
				if fi, err := os.Stat(d); err == nil && fi.IsDir() && fi.Mode().Perm()&0o005 != 0o005 {
					if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	fmt.Fprintf(&b, "Include %s/site.conf\n", dir)
	conf := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// apacheTest runs apache2 -t on a site configuration.
func apacheTest(t *testing.T, site string) {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command(apacheBin, "-t", "-f", apacheConf(t, dir, site)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Syntax OK") || strings.Contains(string(out), "AH0") {
		t.Fatalf("apache2 -t: %v\n%s\nsite:\n%s", err, out, site)
	}
}

// startApache runs apache2 in the foreground with a site configuration
// listening on port; open are the paths its workers read.
func startApache(t *testing.T, site string, port int, open ...string) *webServer {
	t.Helper()
	dir := t.TempDir()
	conf := apacheConf(t, dir, site, open...)
	cmd := exec.Command(apacheBin, "-f", conf, "-DFOREGROUND")
	cmd.Env = append(os.Environ(), "APACHE_RUN_DIR="+dir, "APACHE_PID_FILE="+filepath.Join(dir, "apache2.pid"), "APACHE_LOCK_DIR="+dir, "APACHE_LOG_DIR="+dir)
	return startWebServer(t, "apache2", dir, fmt.Sprintf("http://127.0.0.1:%d", port), cmd, syscall.SIGTERM)
}

// TestExportApache: several pulses and a tag exported with the binary,
// served by the real apache2 with the configuration
// 'webserver-config apache2' prints: every file of every snapshot byte
// for byte as aptsnap serves it, with nginx's caching headers and types;
// nothing of the export's own; what only aptsnap answers proxied; and the
// real apt-get update and download through Apache from a serial URL, a
// timestamp URL (proxied to aptsnap) and a tag.
func TestExportApache(t *testing.T) {
	needApache(t)
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
	if out := c.local("export", "--dir", dir); !strings.Contains(out, "4 snapshot tree(s); 4 added") {
		t.Errorf("export said: %s", out)
	}

	port := freePort(t)
	site := c.local("webserver-config", "apache2", "--export", dir, "--name", "localhost", "--aptsnap", e.srv.URL,
		"--no-tls", "--http-listen", fmt.Sprintf("127.0.0.1:%d", port))
	apacheTest(t, site)
	// The full configuration (HTTPS too) passes apache2 -t with a certificate.
	_, certFile, keyFile := writeServerCert(t, t.TempDir())
	apacheTest(t, c.local("webserver-config", "apache2", "--export", dir, "--name", "localhost", "--aptsnap", e.srv.URL,
		"--cert", certFile, "--key", keyFile, "--http-listen", fmt.Sprint(freePort(t)), "--https-listen", fmt.Sprint(freePort(t))))
	ap := startApache(t, site, port, dir)
	hc := &http.Client{Timeout: 30 * time.Second}

	// Every file, as aptsnap serves it.
	for _, s := range []struct {
		snap catalog.Snapshot
		root string
	}{{s1, "/debian/" + s1.Serial}, {s2, "/debian/" + s2.Serial}, {s3, "/debian/" + s3.Serial}} {
		for p, want := range snapshotPaths(t, e, s.snap) {
			code, body, _ := fetch(t, hc, ap.base+s.root+"/"+p)
			if code != 200 || sum(body) != want {
				t.Fatalf("apache %s/%s: %d, sha256 %s, want %s\n%s", s.root, p, code, sum(body), want, ap.output())
			}
			if _, ab := e.get(s.root + "/" + p); ab != string(body) {
				t.Fatalf("apache and aptsnap differ on %s/%s", s.root, p)
			}
		}
	}
	tag, err := e.app.Catalog.Snapshot(ctx, "debian", catalog.TagSerial("7.0"))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range snapshotPaths(t, e, tag) {
		if code, body, _ := fetch(t, hc, ap.base+"/tagged/7.0/debian/"+p); code != 200 || sum(body) != want {
			t.Fatalf("apache tagged %s: %d", p, code)
		}
	}
	root := "/debian/" + s2.Serial + "/dists/bookworm/"
	_, rel, _ := fetch(t, hc, ap.base+root+"Release")
	r, err := release.Parse(rel)
	if err != nil {
		t.Fatal(err)
	}
	byHash := root + "main/binary-amd64/by-hash/SHA256/" + r.Files["main/binary-amd64/Packages.xz"].SHA256.String()
	for _, tt := range []struct{ path, cache, ctype string }{
		{root + "InRelease", webserver.CacheShort, "text/plain; charset=utf-8"},
		{root + "Release.gpg", webserver.CacheShort, "application/pgp-signature"},
		{root + "main/binary-amd64/Packages", webserver.CacheShort, "text/plain; charset=utf-8"},
		{root + "main/binary-amd64/Packages.xz", webserver.CacheShort, "application/x-xz"},
		{byHash, webserver.CacheImmutable, "application/octet-stream"},
		{"/debian/" + s2.Serial + "/pool/main/h/hello/hello_2.10-2_amd64.deb", webserver.CacheImmutable, "application/vnd.debian.binary-package"},
		{"/tagged/7.0/debian/pool/main/h/hello/hello_2.10-1_amd64.deb", webserver.CacheImmutable, "application/vnd.debian.binary-package"},
		{"/debian/project/trace/debian", webserver.CacheShort, "text/plain; charset=utf-8"},
		{"/keys/aptsnap.asc", "public, max-age=3600", "application/pgp-keys"},
	} {
		code, _, h := fetch(t, hc, ap.base+tt.path)
		if code != 200 || h.Get("Cache-Control") != tt.cache || h.Get("Content-Type") != tt.ctype {
			t.Errorf("%s: %d, Cache-Control %q, Content-Type %q; want 200, %q, %q", tt.path, code, h.Get("Cache-Control"), h.Get("Content-Type"), tt.cache, tt.ctype)
		}
	}
	if _, body, _ := fetch(t, hc, ap.base+"/debian/project/trace/debian"); !strings.HasPrefix(string(body), "Archive serial: "+s3.Serial+"\nDate: ") {
		t.Errorf("trace file: %q", body)
	}
	if _, body, _ := fetch(t, hc, ap.base+"/keys/aptsnap.asc"); string(body) != string(e.app.Signer.PublicKey()) {
		t.Error("the key served is not aptsnap's")
	}
	// Nothing else: the export's bookkeeping, directories (with or without
	// a slash), unknown serials.
	for _, p := range []string{"/.aptsnap/export", "/.aptsnap/state.json", "/.aptsnap/by-sha256/", "/debian/", "/debian", "/debian/" + s2.Serial + "/",
		"/debian/" + s2.Serial + "/dists/", "/debian/" + s2.Serial + "/dists", "/debian/" + s2.Serial + "/pool/main/h/hello/",
		"/debian/2020010101/dists/bookworm/InRelease", "/tagged/", "/tagged/7.0/debian/dists/nosuch/InRelease", "/keys/", "/index.html"} {
		if code, _, h := fetch(t, hc, ap.base+p); code != 404 || h.Get("Cache-Control") != "" {
			t.Errorf("%s: %d (Cache-Control %q), want 404", p, code, h.Get("Cache-Control"))
		}
	}
	// What only aptsnap answers is proxied.
	if code, _, _ := fetch(t, hc, ap.base+"/"); code != 200 {
		t.Errorf("/ through apache (redirected to /ui/): %d", code)
	}
	checkThroughWebServer(t, e, hc, ap.base, "apache", ap.output, s1, s2)
}
