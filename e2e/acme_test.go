package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/internal/apttest"
)

// acmeDomain is the name aptsnap gets certificates for. Pebble accepts any
// well-formed name; pebble-challtestsrv answers every A query with
// 127.0.0.1 (and no AAAA), so Pebble's validation connects back to
// aptsnap's loopback listeners. Clients reach it through a DialContext
// (Go) or a CONNECT proxy (apt), so the host's resolver is never touched.
const acmeDomain = "snapshots.aptsnap.test"

// pebble is a running Pebble ACME CA with its DNS (pebble-challtestsrv).
type pebble struct {
	dir       string
	directory string // ACME directory URL
	serverCA  string // PEM file: the CA of Pebble's own HTTPS (ca_root)
	root      []byte // PEM: the root Pebble issues under
	rootPool  *x509.CertPool
	log       *bytes.Buffer
	mu        *sync.Mutex
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (b lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func startProcess(t *testing.T, out io.Writer, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// writeServerCert makes a CA and a certificate it signs for 127.0.0.1
// (Pebble's own HTTPS: the Debian package ships none) and returns the
// paths of the CA, the certificate and the key.
func writeServerCert(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble server test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "server-ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for f, b := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// startPebble runs pebble-challtestsrv and pebble, validating HTTP-01 on
// httpPort and TLS-ALPN-01 on tlsPort of 127.0.0.1.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (Debian package pebble; scripts/install-deps installs it)", bin)
		}
	}
	p := &pebble{dir: t.TempDir(), log: &bytes.Buffer{}, mu: &sync.Mutex{}}
	out := lockedBuffer{p.mu, p.log}
	dnsPort := freePort(t)
	startProcess(t, out, nil, "pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dns01", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", freePort(t)))

	caFile, certFile, keyFile := writeServerCert(t, p.dir)
	p.serverCA = caFile
	apiPort, mgmtPort := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", apiPort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	cfgJSON, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(p.dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, cfgJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	// No sleeps before validation, no nonce rejection, and every order
	// validated afresh (no reuse of earlier authorizations).
	startProcess(t, out, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"pebble", "-config", cfgFile, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble output:\n%s", p.output())
		}
	})

	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p.directory = fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
		if err == nil {
			p.root, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not ready: %v\n%s", err, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, err := client.Get(p.directory); err != nil || resp.StatusCode != 200 {
		t.Fatalf("pebble directory: %v %v", resp, err)
	}
	p.rootPool = x509.NewCertPool()
	if !p.rootPool.AppendCertsFromPEM(p.root) {
		t.Fatalf("pebble root is not PEM: %q", p.root)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "issuing-root.pem"), p.root, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pebble) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *pebble) rootFile() string { return filepath.Join(p.dir, "issuing-root.pem") }

// httpsEnv is aptsnap serving a snapshot over HTTP and HTTPS with
// certificates from Pebble.
type httpsEnv struct {
	t       *testing.T
	up      *upstream
	peb     *pebble
	dataDir string
	plainLn net.Listener
	tlsLn   net.Listener
	cfgText string
	app     *app.App
	cancel  context.CancelFunc
	done    chan error
	serial  string
	// renewCheck is the app's CertRenewCheck (certmagic's default if zero).
	renewCheck time.Duration
}

func newHTTPSEnv(t *testing.T) *httpsEnv {
	t.Helper()
	return newHTTPSEnvWith(t, 0, nil)
}

// newHTTPSEnvWith is newHTTPSEnv with the app's CertRenewCheck set to
// renewCheck and, when directory is not nil, the ACME directory URL it
// returns for the started Pebble instead of Pebble's own.
func newHTTPSEnvWith(t *testing.T, renewCheck time.Duration, directory func(*pebble) string) *httpsEnv {
	t.Helper()
	e := &httpsEnv{t: t, up: newUpstream(t), dataDir: filepath.Join(t.TempDir(), "data"), renewCheck: renewCheck}
	e.up.write(0)
	var err error
	if e.plainLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if e.tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	e.peb = startPebble(t, e.port(e.plainLn), e.port(e.tlsLn))
	ca := e.peb.directory
	if directory != nil {
		ca = directory(e.peb)
	}
	e.cfgText = fmt.Sprintf(`
data_dir = %q
listen = %q
public_url = "https://%s:%d"

[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["bookworm", "bookworm-updates"]
components = ["main"]
architectures = ["amd64"]

[tls]
listen = %q

[tls.acme]
email = "ops@example.org"
ca = %q
domains = [%q]
ca_root = %q
`, e.dataDir, e.plainLn.Addr(), acmeDomain, e.port(e.tlsLn), e.up.url(), e.up.keyring, e.tlsLn.Addr(),
		ca, acmeDomain, e.peb.serverCA)
	e.start()
	snap, err := e.app.Pulse(context.Background(), "debian")
	if err != nil {
		t.Fatal(err)
	}
	e.serial = snap.Serial
	return e
}

func (e *httpsEnv) port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// clientLoop fetches InRelease over HTTPS from 4 clients until stopped,
// recording failures and the certificate serials the server presented.
type clientLoop struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	serials    map[string]bool
	errs       []error
	done       chan struct{}
	wg         sync.WaitGroup
}

// startClientLoop starts the clients and lets them run for 200 ms.
func (e *httpsEnv) startClientLoop() *clientLoop {
	l := &clientLoop{serials: map[string]bool{}, done: make(chan struct{})}
	for range 4 {
		l.wg.Go(func() {
			c := e.client()
			for {
				select {
				case <-l.done:
					return
				default:
				}
				_, leaf, err := e.fetch(c, "/debian/"+e.serial+"/dists/bookworm/InRelease")
				l.mu.Lock()
				if err != nil {
					l.failed.Add(1)
					l.errs = append(l.errs, err)
				} else {
					l.ok.Add(1)
					l.serials[leaf.SerialNumber.String()] = true
				}
				l.mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	return l
}

// stop lets the clients run 200 ms more, then stops them.
func (l *clientLoop) stop() {
	time.Sleep(200 * time.Millisecond)
	close(l.done)
	l.wg.Wait()
}

// check fails the test if a request failed or the clients did not see
// both the old and the new certificate.
func (l *clientLoop) check(t *testing.T, old, new *x509.Certificate) {
	t.Helper()
	if l.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during renewal, first: %v", l.failed.Load(), l.failed.Load()+l.ok.Load(), l.errs[0])
	}
	if !l.serials[new.SerialNumber.String()] || !l.serials[old.SerialNumber.String()] {
		t.Errorf("client loop saw serials %v; old %s new %s", l.serials, old.SerialNumber, new.SerialNumber)
	}
}

// waitNewLeaf polls the server every step until it presents a certificate
// other than old, for at most d; nil if it never does.
func (e *httpsEnv) waitNewLeaf(old *x509.Certificate, d, step time.Duration) *x509.Certificate {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(step) {
		if _, l, err := e.fetch(e.client(), "/keys/aptsnap.asc"); err == nil && l.SerialNumber.Cmp(old.SerialNumber) != 0 {
			return l
		}
	}
	return nil
}

// start opens the app on the data directory and serves on the two
// listeners (reopened on the same ports after a stop).
func (e *httpsEnv) start() {
	t := e.t
	t.Helper()
	cfg, err := config.Parse([]byte(e.cfgText))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	e.app = a
	a.CertRenewCheck = e.renewCheck
	if e.plainLn == nil {
		if e.plainLn, err = net.Listen("tcp", cfg.Listen); err != nil {
			t.Fatal(err)
		}
		if e.tlsLn, err = net.Listen("tcp", cfg.TLS.Listen); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- a.ServeListeners(ctx, e.plainLn, e.tlsLn, false) }()
	t.Cleanup(e.stop)
}

func (e *httpsEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("serve: %v", err)
	}
	e.app.Close()
	e.cancel, e.plainLn, e.tlsLn = nil, nil, nil
}

// testWriter logs through t (aptsnap's warnings and errors show with the test).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitCert waits until the HTTPS listener has a certificate for the domain.
func (e *httpsEnv) waitCert(timeout time.Duration) time.Time {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := e.app.Certs(); m != nil {
			if na, ok := m.NotAfter()[acmeDomain]; ok {
				return na
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("no certificate for %s after %s", acmeDomain, timeout)
	return time.Time{}
}

// client is an HTTPS client that trusts only Pebble's issuing root and
// reaches acmeDomain on loopback; every request is a new connection (a
// new handshake), so it sees a replaced certificate at once.
func (e *httpsEnv) client() *http.Client {
	tlsAddr := e.tlsLn.Addr().String()
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: e.peb.rootPool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, _ := net.SplitHostPort(addr); host == acmeDomain {
				addr = tlsAddr
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func (e *httpsEnv) url(path string) string {
	return fmt.Sprintf("https://%s:%d%s", acmeDomain, e.port(e.tlsLn), path)
}

// fetch GETs path over HTTPS and checks the presented chain: the leaf
// names acmeDomain and chains up to Pebble's root. It returns the body and
// the leaf.
func (e *httpsEnv) fetch(c *http.Client, path string) (string, *x509.Certificate, error) {
	resp, err := c.Get(e.url(path))
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != 200 {
		return "", nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if resp.TLS == nil || len(resp.TLS.VerifiedChains) == 0 {
		return "", nil, fmt.Errorf("GET %s: no verified chain", path)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname(acmeDomain); err != nil {
		return "", nil, err
	}
	chain := resp.TLS.VerifiedChains[0]
	root := chain[len(chain)-1]
	if b, _ := pem.Decode(e.peb.root); b == nil || !bytes.Equal(root.Raw, b.Bytes) {
		return "", nil, fmt.Errorf("GET %s: chain ends at %s, not at Pebble's root", path, root.Subject)
	}
	if len(chain) < 3 {
		return "", nil, fmt.Errorf("GET %s: chain of %d, want leaf, Pebble intermediate, root", path, len(chain))
	}
	return string(body), leaf, nil
}

// connectProxy is an HTTP CONNECT proxy that sends acmeDomain to loopback:
// how apt (which resolves names with the system resolver) reaches it.
func connectProxy(t *testing.T, target string, port int) (*httptest.Server, *atomic.Int64) {
	return connectProxyFor(t, acmeDomain, target, port)
}

// connectProxyFor is connectProxy for another name.
func connectProxyFor(t *testing.T, host, target string, port int) (*httptest.Server, *atomic.Int64) {
	var tunnels atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Host != fmt.Sprintf("%s:%d", host, port) {
			http.Error(w, "only CONNECT to "+host, http.StatusForbidden)
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		tunnels.Add(1)
		conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() { io.Copy(up, buf); up.(*net.TCPConn).CloseWrite() }()
		io.Copy(conn, up)
		conn.Close()
		up.Close()
	}))
	t.Cleanup(srv.Close)
	return srv, &tunnels
}

// TestACME runs aptsnap against the real Pebble: it obtains a certificate
// through ACME; an HTTPS client trusting only Pebble's root fetches the key
// and a snapshot's InRelease and checks the chain and name; the real
// apt-get updates over https:// with that root as its only CA; `cert
// status` reads the stored certificate; a forced renewal replaces the
// certificate in the running server while a client loop sees no failed
// request; and a restart serves the stored certificate instead of
// reissuing.
func TestACME(t *testing.T) {
	start := time.Now()
	e := newHTTPSEnv(t)
	notAfter := e.waitCert(60 * time.Second)
	t.Logf("certificate obtained %s after start, not after %s", time.Since(start).Round(time.Millisecond), notAfter)

	c := e.client()
	key, leaf, err := e.fetch(c, "/keys/aptsnap.asc")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(key, "BEGIN PGP PUBLIC KEY BLOCK") {
		t.Fatalf("key over https: %q", key)
	}
	inRelease, _, err := e.fetch(c, "/debian/"+e.serial+"/dists/bookworm/InRelease")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(inRelease, "Codename: bookworm") || !strings.Contains(inRelease, "Valid-Until:") {
		t.Fatalf("InRelease over https:\n%s", inRelease)
	}
	if !slices.Equal(leaf.DNSNames, []string{acmeDomain}) || !leaf.NotAfter.Equal(notAfter) {
		t.Errorf("leaf names %v not after %s; manager says %s", leaf.DNSNames, leaf.NotAfter, notAfter)
	}
	// Plain HTTP stays available for APT.
	resp, err := http.Get("http://" + e.plainLn.Addr().String() + "/debian/" + e.serial + "/dists/bookworm/InRelease")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain http: %v %v", resp, err)
	}
	resp.Body.Close()

	t.Run("apt-get over https", func(t *testing.T) {
		proxy, tunnels := connectProxy(t, e.tlsLn.Addr().String(), e.port(e.tlsLn))
		a := apttest.New(t, "deb [signed-by=$ROOT/aptsnap.asc] "+e.url("/debian/"+e.serial+"/")+" bookworm main\n",
			"Acquire::https::CaInfo="+e.peb.rootFile(), "Acquire::https::Proxy="+proxy.URL)
		a.WriteFile("aptsnap.asc", []byte(key))
		out, err := a.Run("update")
		if err != nil {
			t.Fatalf("apt-get update over https: %v\n%s", err, out)
		}
		if tunnels.Load() == 0 {
			t.Fatalf("apt did not go through the proxy:\n%s", out)
		}
		if got := candidate(t, a, "hello"); got != "2.10-1" {
			t.Errorf("hello candidate %s", got)
		}
		if out, err := a.Run("download", "hello"); err != nil {
			t.Fatalf("apt-get download over https: %v\n%s", err, out)
		}
		// The same apt without Pebble's root refuses the server.
		b := apttest.New(t, "deb [signed-by=$ROOT/aptsnap.asc] "+e.url("/debian/"+e.serial+"/")+" bookworm main\n",
			"Acquire::https::Proxy="+proxy.URL)
		b.WriteFile("aptsnap.asc", []byte(key))
		// (apt-get update exits 0 when a source fails; its output says why.)
		if out, _ := b.Run("update"); !strings.Contains(out, "Certificate verification failed") {
			t.Errorf("apt-get update trusting only the system CAs:\n%s", out)
		}
	})

	t.Run("cert status", func(t *testing.T) {
		cfgFile := filepath.Join(t.TempDir(), "aptsnap.toml")
		if err := os.WriteFile(cfgFile, []byte(e.cfgText), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(aptsnapBinary(t), "--config", cfgFile, "--log-level", "error", "cert", "status")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cert status: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") {
			t.Fatalf("cert status:\n%s", out)
		}
		f := strings.Fields(lines[1])
		if f[0] != acmeDomain || !strings.Contains(lines[1], notAfter.UTC().Format(time.RFC3339)) ||
			!strings.Contains(lines[1], "Pebble Intermediate") || !strings.Contains(lines[1], e.peb.directory) {
			t.Errorf("cert status line: %q (not after %s)", lines[1], notAfter.UTC().Format(time.RFC3339))
		}
		t.Logf("cert status:\n%s", out)
	})

	t.Run("forced renewal without failed requests", func(t *testing.T) {
		loop := e.startClientLoop()
		begin := time.Now()
		if err := e.app.Certs().Renew(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		renewed := time.Since(begin)
		// Keep the loop running until it has seen the new certificate.
		newLeaf := e.waitNewLeaf(leaf, 10*time.Second, 20*time.Millisecond)
		loop.stop()
		if newLeaf == nil {
			t.Fatal("the server still presents the old certificate")
		}
		loop.check(t, leaf, newLeaf)
		if na := e.app.Certs().NotAfter()[acmeDomain]; !na.Equal(newLeaf.NotAfter) {
			t.Errorf("NotAfter %s, presented %s", na, newLeaf.NotAfter)
		}
		if v := value(scrapeURL(t, "http://"+e.plainLn.Addr().String()), "aptsnap_certificate_not_after_timestamp_seconds", map[string]string{"name": acmeDomain}); v != float64(newLeaf.NotAfter.Unix()) {
			t.Errorf("certificate expiry metric %v, presented certificate expires %d", v, newLeaf.NotAfter.Unix())
		}
		t.Logf("renewal took %s; %d requests during it, none failed; certificate %s -> %s",
			renewed.Round(time.Millisecond), loop.ok.Load(), leaf.SerialNumber, newLeaf.SerialNumber)
		leaf = newLeaf
	})

	t.Run("restart reuses the stored certificate", func(t *testing.T) {
		orders := strings.Count(e.peb.output(), "Issued certificate")
		e.stop()
		e.start()
		e.waitCert(10 * time.Second)
		_, got, err := e.fetch(e.client(), "/keys/aptsnap.asc")
		if err != nil {
			t.Fatal(err)
		}
		if got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Errorf("after restart serial %s, want the stored %s", got.SerialNumber, leaf.SerialNumber)
		}
		time.Sleep(300 * time.Millisecond)
		if n := strings.Count(e.peb.output(), "Issued certificate"); n != orders {
			t.Errorf("pebble issued %d certificates after the restart", n-orders)
		}
	})
}

// TestACMEChallenges obtains a certificate with each challenge type alone:
// HTTP-01 answered by the plain handler, TLS-ALPN-01 by the HTTPS
// listener's GetCertificate.
func TestACMEChallenges(t *testing.T) {
	for _, tt := range []struct {
		name              string
		noHTTP, noTLSALPN bool
	}{
		{"http-01", false, true},
		{"tls-alpn-01", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plainLn, _ := net.Listen("tcp", "127.0.0.1:0")
			tlsLn, _ := net.Listen("tcp", "127.0.0.1:0")
			peb := startPebble(t, plainLn.Addr().(*net.TCPAddr).Port, tlsLn.Addr().(*net.TCPAddr).Port)
			cfg := &config.TLS{Listen: tlsLn.Addr().String(), ACME: &config.ACME{
				Email: "ops@example.org", CA: peb.directory, Domains: []string{acmeDomain}, CARoot: peb.serverCA}}
			m, err := certs.New(cfg, t.TempDir(), slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
				certs.Options{HTTPAddr: plainLn.Addr(), TLSAddr: tlsLn.Addr(), DisableHTTP01: tt.noHTTP, DisableTLSALPN01: tt.noTLSALPN})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Stop()
			// Count what Pebble's validation asked each listener.
			var httpChallenges, alpnChallenges atomic.Int64
			hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
			answer := m.HTTPHandler(hello)
			plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
					httpChallenges.Add(1)
				}
				answer.ServeHTTP(w, r)
			})}
			tc := m.TLSConfig()
			getCert := tc.GetCertificate
			tc.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if slices.Equal(hello.SupportedProtos, []string{"acme-tls/1"}) {
					alpnChallenges.Add(1)
				}
				return getCert(hello)
			}
			secure := &http.Server{Handler: hello, TLSConfig: tc}
			go plain.Serve(plainLn)
			go secure.ServeTLS(tlsLn, "", "")
			defer plain.Close()
			defer secure.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := m.Obtain(ctx); err != nil {
				t.Fatalf("obtain with %s only: %v", tt.name, err)
			}
			if _, ok := m.NotAfter()[acmeDomain]; !ok {
				t.Fatalf("no certificate after Obtain: %v", m.NotAfter())
			}
			h, a := httpChallenges.Load(), alpnChallenges.Load()
			if (tt.noHTTP && (h != 0 || a == 0)) || (tt.noTLSALPN && (a != 0 || h == 0)) {
				t.Errorf("validation requests: %d HTTP-01, %d TLS-ALPN-01", h, a)
			}
			t.Logf("validation requests: %d HTTP-01, %d TLS-ALPN-01", h, a)
		})
	}
}

// TestTLSFiles serves HTTPS with cert_file/key_file: a client trusting the
// files' CA fetches InRelease over https, the certificate's expiry shows in
// NotAfter, and a replaced file is served without a restart (Renew reloads
// at once; the running server also polls the files).
func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeServerCert(t, dir)
	up := newUpstream(t)
	up.write(0)
	cfgText := fmt.Sprintf(`
data_dir = %q
listen = "127.0.0.1:0"

[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]

[tls]
listen = "127.0.0.1:0"
cert_file = %q
key_file = %q
`, filepath.Join(dir, "data"), up.url(), up.keyring, certFile, keyFile)
	cfgFile := filepath.Join(dir, "aptsnap.toml")
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	snap, err := a.Pulse(context.Background(), "debian")
	if err != nil {
		t.Fatal(err)
	}
	plainLn, _ := net.Listen("tcp", "127.0.0.1:0")
	tlsLn, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListeners(ctx, plainLn, tlsLn, false) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func() *x509.Certificate {
		t.Helper()
		resp, err := c.Get("https://" + tlsLn.Addr().String() + "/debian/" + snap.Serial + "/dists/bookworm/InRelease")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "Codename: bookworm") {
			t.Fatalf("InRelease over https: %s\n%s", resp.Status, body)
		}
		return resp.TLS.PeerCertificates[0]
	}
	leaf := get()
	for a.Certs() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if na := a.Certs().NotAfter(); !na["127.0.0.1"].Equal(leaf.NotAfter) || !na["localhost"].Equal(leaf.NotAfter) {
		t.Errorf("NotAfter %v, presented %s", na, leaf.NotAfter)
	}
	// Replace the files (with a certificate from a new CA, which the
	// client trusts too) and reload them.
	ca2, _, _ := writeServerCert(t, dir)
	ca2PEM, _ := os.ReadFile(ca2)
	pool.AppendCertsFromPEM(ca2PEM)
	if err := a.Certs().Renew(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.SerialNumber.Cmp(leaf.SerialNumber) == 0 && bytes.Equal(got.Raw, leaf.Raw) {
		t.Error("replaced certificate files not served")
	}

	out, err := exec.Command(aptsnapBinary(t), "--config", cfgFile, "cert", "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "localhost") || !strings.Contains(string(out), certFile) ||
		!strings.Contains(string(out), "pebble server test CA") {
		t.Errorf("cert status: %v\n%s", err, out)
	}
}
