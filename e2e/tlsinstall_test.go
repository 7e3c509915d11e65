package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/webserver"
)

// placeholderCert writes a self-signed certificate and key for name: what
// a web server starts with before aptsnap installs the CA's.
func placeholderCert(t *testing.T, name, certPath, keyPath string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	kd, _ := x509.MarshalECPrivateKey(k)
	os.MkdirAll(filepath.Dir(certPath), 0o755)
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLSInstallNginx and TestTLSInstallApache: aptsnap obtains from
// Pebble the certificates of two virtual hosts of the real web server
// ([[tls.install]]; the first with two names in one certificate; HTTP-01
// through the web server's proxy to aptsnap), installs them, tests and
// reloads the web server, which presents them; the real apt-get goes over
// HTTPS through it from a serial URL, a timestamp URL and a tag; a forced
// renewal is picked up after the reload with no failed handshake; a
// failing test command keeps the previous files (and the retry installs
// once it passes); webserver-check and cert status agree.
func TestTLSInstallNginx(t *testing.T) {
	needNginx(t)
	testTLSInstall(t, "nginx")
}

func TestTLSInstallApache(t *testing.T) {
	needApache(t)
	testTLSInstall(t, "apache2")
}

func testTLSInstall(t *testing.T, server string) {
	httpPort, httpsPort := freePort(t), freePort(t)
	peb := startPebble(t, httpPort, freePort(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsDir, export := t.TempDir(), t.TempDir()
	hosts := [][]string{{"a.aptsnap.test", "www.a.aptsnap.test"}, {"b.aptsnap.test"}}
	certOf := func(h string) string { return filepath.Join(tlsDir, h, "fullchain.pem") }
	keyOf := func(h string) string { return filepath.Join(tlsDir, h, "privkey.pem") }
	gen := webserver.Nginx
	if server == "apache2" {
		gen = webserver.Apache2
	}
	var site strings.Builder
	for _, names := range hosts {
		h := names[0]
		placeholderCert(t, h, certOf(h), keyOf(h))
		s, err := gen(webserver.Site{Name: h, Aliases: names[1:], Export: export, Aptsnap: "http://" + ln.Addr().String(),
			Cert: certOf(h), Key: keyOf(h), HTTPListen: fmt.Sprintf("127.0.0.1:%d", httpPort), HTTPSListen: fmt.Sprintf("127.0.0.1:%d", httpsPort)})
		if err != nil {
			t.Fatal(err)
		}
		site.Write(s)
	}
	var ws *webServer
	var testCmd, reloadCmd string
	if server == "nginx" {
		ws = startNginx(t, site.String(), httpPort)
		nginxCmd := fmt.Sprintf("%s -p %s -c %s -g '%s'", nginxBin, ws.dir, filepath.Join(ws.dir, "nginx.conf"), nginxGlobals(ws.dir))
		testCmd, reloadCmd = nginxCmd+" -t", nginxCmd+" -s reload"
	} else {
		ws = startApache(t, site.String(), httpPort, export)
		conf := filepath.Join(ws.dir, "httpd.conf")
		// A graceful restart by signal: `apache2 -k graceful` starts a
		// server when it finds none running, which would outlive the test.
		testCmd, reloadCmd = apacheBin+" -t -f "+conf, "kill -USR1 $(cat "+filepath.Join(ws.dir, "apache2.pid")+")"
	}
	failFile := filepath.Join(t.TempDir(), "fail-test")

	dataDir := filepath.Join(t.TempDir(), "data")
	var cfgText strings.Builder
	up := newUpstream(t)
	up.write(0)
	fmt.Fprintf(&cfgText, "data_dir = %q\nlisten = %q\npublic_url = \"https://%s\"\n\n[[archive]]\nname = \"debian\"\nurl = %q\nkeyring = %q\n"+
		"suites = [\"bookworm\"]\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\n\n[tls.acme]\nemail = \"ops@example.org\"\nca = %q\nca_root = %q\n",
		dataDir, ln.Addr().String(), hosts[0][0], up.url(), up.keyring, peb.directory, peb.serverCA)
	for _, names := range hosts {
		h := names[0]
		fmt.Fprintf(&cfgText, "\n[[tls.install]]\nserver = %q\nnames = [\"%s\"]\ncert_path = %q\nkey_path = %q\ntest = %q\nreload = %q\n",
			server, strings.Join(names, `", "`), certOf(h), keyOf(h), "test ! -e "+failFile+" || { echo 'configuration broken'; exit 1; }; "+testCmd, reloadCmd)
	}
	ha, www, hb := hosts[0][0], hosts[0][1], hosts[1][0]
	cfgFile := filepath.Join(t.TempDir(), "aptsnap.toml")
	os.WriteFile(cfgFile, []byte(cfgText.String()), 0o644)
	cfg, err := config.Parse([]byte(cfgText.String()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.Listener() {
		t.Fatal("[[tls.install]] alone must not open an HTTPS listener")
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.CertInstallRetry = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListeners(ctx, ln, nil, false) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	// present: the leaf the web server presents for h over HTTPS, verified.
	present := func(h string) (*x509.Certificate, error) {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: h, RootCAs: peb.rootPool})
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}
	waitPresented := func(h string, not *big.Int) *x509.Certificate {
		t.Helper()
		var last error
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			l, err := present(h)
			if err == nil && (not == nil || l.SerialNumber.Cmp(not) != 0) {
				return l
			}
			last = err
		}
		t.Fatalf("%s does not present a new Pebble certificate for %s: %v\n%s\n%s", server, h, last, ws.output(), peb.output())
		return nil
	}
	leaves := map[string]*x509.Certificate{}
	for _, names := range hosts {
		h := names[0]
		l := waitPresented(h, nil)
		// One certificate for the virtual host's names, presented for each.
		if got := slices.Sorted(slices.Values(l.DNSNames)); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
			t.Errorf("%s: certificate names %v, want %v", h, l.DNSNames, names)
		}
		for _, n := range names {
			if err := l.VerifyHostname(n); err != nil {
				t.Error(err)
			}
			// (Until the old workers of an earlier reload are gone.)
			var o *x509.Certificate
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if o, err = present(n); err == nil && o.SerialNumber.Cmp(l.SerialNumber) == 0 {
					break
				}
			}
			if err != nil || o.SerialNumber.Cmp(l.SerialNumber) != 0 {
				t.Errorf("%s presents another certificate than %s: %v", n, h, err)
			}
		}
		if !strings.Contains(l.Issuer.CommonName, "Pebble") {
			t.Errorf("%s: issuer %s", h, l.Issuer)
		}
		kp, err := tls.LoadX509KeyPair(certOf(h), keyOf(h))
		if err != nil {
			t.Fatal(err)
		}
		if !kp.PrivateKey.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(l.PublicKey) {
			t.Errorf("%s: presented key is not the installed one", h)
		}
		if fi, _ := os.Stat(keyOf(h)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: key mode %v", h, fi.Mode())
		}
		leaves[h] = l
	}
	// The real apt-get over HTTPS through the web server, trusting Pebble's root
	// only: a serial URL and a tag from the export, a timestamp URL
	// proxied to aptsnap.
	t.Run("apt-get over https", func(t *testing.T) {
		snap, err := a.Pulse(ctx, "debian")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.TagCreate(ctx, "r1", map[string]string{"debian": snap.Serial}, nil); err != nil {
			t.Fatal(err)
		}
		x, err := a.OpenExport(ctx, export)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		x.Close()
		// A timestamp URL names an instant after the snapshot, settled
		// (a second past).
		time.Sleep(2100 * time.Millisecond)
		stamp := time.Now().Add(-time.Second).UTC().Format("20060102T150405Z")
		// Through the virtual host's second name.
		proxy, tunnels := connectProxyFor(t, www, fmt.Sprintf("127.0.0.1:%d", httpsPort), httpsPort)
		for _, path := range []string{"/debian/" + snap.Serial + "/", "/debian/" + stamp + "/", "/tagged/r1/debian/"} {
			apt := apttest.New(t, fmt.Sprintf("deb [signed-by=$ROOT/key.asc] https://%s:%d%s bookworm main\n", www, httpsPort, path),
				"Acquire::https::CaInfo="+peb.rootFile(), "Acquire::https::Proxy="+proxy.URL)
			apt.WriteFile("key.asc", a.Signer.PublicKey())
			if out, err := apt.Run("update"); err != nil {
				t.Fatalf("apt-get update over https from %s: %v\n%s\n%s", path, err, out, ws.output())
			}
			if _, stderr, err := apt.Exec("apt-get", "download", "hello"); err != nil {
				t.Fatalf("apt-get download over https from %s: %v\n%s", path, err, stderr)
			}
		}
		if tunnels.Load() == 0 {
			t.Errorf("apt did not go through %s", server)
		}
	})

	bin := aptsnapBinary(t)
	checkWith := func(h string, args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--config", cfgFile, "--log-level", "error", "webserver-check", h,
			"--connect", fmt.Sprintf("127.0.0.1:%d", httpsPort)}, args...)...).CombinedOutput()
		return string(out), err
	}
	check := func(h string) (string, error) { return checkWith(h, "--ca", peb.rootFile()) }
	for _, h := range []string{ha, www, hb} {
		if out, err := check(h); err != nil || !strings.HasPrefix(out, "OK ") {
			t.Errorf("webserver-check %s: %v %s", h, err, out)
		}
	}
	// Not a monitoring check that always passes: close to expiry, not
	// trusted by the system's roots, or a name aptsnap does not install.
	for _, tt := range []struct {
		host string
		args []string
		want string
	}{
		{ha, []string{"--ca", peb.rootFile(), "--days", "100000"}, "within 100000 days"},
		{ha, nil, "does not verify"},
		{"c.aptsnap.test", []string{"--ca", peb.rootFile()}, "no [[tls.install]]"},
	} {
		if out, err := checkWith(tt.host, tt.args...); err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("webserver-check %s %v: %v %s, want a failure saying %q", tt.host, tt.args, err, out, tt.want)
		}
	}
	out, err := exec.Command(bin, "--config", cfgFile, "--log-level", "error", "cert", "status").CombinedOutput()
	if err != nil || strings.Count(string(out), " ok ") != 2 || !strings.Contains(string(out), certOf(hb)) || !strings.Contains(string(out), ha+","+www+" ") {
		t.Errorf("cert status: %v\n%s", err, out)
	}

	// A forced renewal, with clients fetching over HTTPS all along.
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var errs []error
	seen := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				l, err := present(ha)
				mu.Lock()
				if err != nil {
					failed.Add(1)
					errs = append(errs, err)
				} else {
					ok.Add(1)
					seen[l.SerialNumber.String()] = true
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if err := a.Installer().Renew(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	renewed := waitPresented(ha, leaves[ha].SerialNumber)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d handshakes failed during the renewal, first: %v", failed.Load(), failed.Load()+ok.Load(), errs[0])
	}
	if !seen[renewed.SerialNumber.String()] || !seen[leaves[ha].SerialNumber.String()] {
		t.Errorf("clients saw %v", seen)
	}
	// The other host got a new one too (Renew renews every name).
	waitPresented(hb, leaves[hb].SerialNumber)
	// The web server now presents what aptsnap holds; webserver-check
	// fails when it presents another certificate.
	if out, err := check(ha); err != nil {
		t.Errorf("webserver-check after renewal: %v %s", err, out)
	}

	// A failing configuration test: the files stay as they were.
	os.WriteFile(failFile, nil, 0o644)
	before, _ := os.ReadFile(certOf(ha))
	beforeKey, _ := os.ReadFile(keyOf(ha))
	// (The install fails in Renew or in the loop woken by the renewal,
	// whichever comes first; the other leaves it to the retry.)
	a.Installer().Renew(context.Background(), true)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st := a.Installer().Status(context.Background()); strings.Contains(st[0].Error, "test command") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed install recorded: %+v", a.Installer().Status(context.Background()))
		}
	}
	after, _ := os.ReadFile(certOf(ha))
	afterKey, _ := os.ReadFile(keyOf(ha))
	if !bytes.Equal(before, after) || !bytes.Equal(beforeKey, afterKey) {
		t.Fatal("a failing test left the new files in place")
	}
	if out, err := check(ha); err == nil || !strings.Contains(out, "not the certificate aptsnap holds") {
		t.Errorf("webserver-check while the web server presents the previous certificate: %v %s", err, out)
	}
	out, _ = exec.Command(bin, "--config", cfgFile, "--log-level", "error", "cert", "status").CombinedOutput()
	if !strings.Contains(string(out), "FAILED") || !strings.Contains(string(out), "configuration broken") {
		t.Errorf("cert status after a failed test:\n%s", out)
	}
	// Visible in the metrics the server exports.
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, re := range []string{`aptsnap_tls_install_failures_total\{name="a\.aptsnap\.test"\} [1-9]`,
		`aptsnap_tls_install_not_after_timestamp_seconds\{name="b\.aptsnap\.test"\} \d`,
		`aptsnap_tls_install_obtain_failures_total\{name="a\.aptsnap\.test"\} 0`} {
		if !regexp.MustCompile(re).Match(metrics) {
			t.Errorf("/metrics has no line matching %s:\n%s", re, grepLines(string(metrics), "aptsnap_tls_install"))
		}
	}
	// Fixed: the retry installs it.
	os.Remove(failFile)
	waitPresented(ha, renewed.SerialNumber)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if out, err := check(ha); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("webserver-check after the retry: %v %s", err, out)
		}
	}
}

// grepLines is the lines of text containing s.
func grepLines(text, s string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
