package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Debian's Pebble (2.4) has no ACME Renewal Information (RFC 9773), so
// TestACMEARI builds this one: its directory advertises renewalInfo, and
// its management API sets the ARI answer for a certificate
// (POST /set-renewal-info/).
const (
	pebbleARIModule  = "github.com/letsencrypt/pebble/v2"
	pebbleARIVersion = "v2.10.3"
)

// pebbleBuildTimeout bounds building Pebble (tests shorten it).
var pebbleBuildTimeout = 4 * time.Minute

// buildPebbleARI returns a directory holding that Pebble's binary, built
// with `go install` once and kept under $TMPDIR for later runs. The test
// is skipped if the module cannot be had (no module proxy, no cache).
func buildPebbleARI(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "aptsnap-e2e-pebble-"+pebbleARIVersion)
	if _, err := os.Stat(filepath.Join(dir, "pebble")); err == nil {
		return dir
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("building Pebble %s with ARI needs the go command: %v", pebbleARIVersion, err)
	}
	tmp := t.TempDir()
	mod := pebbleARIModule + "@" + pebbleARIVersion
	// The go command has no timeout of its own: a module proxy that
	// accepts connections and never answers would hold the test until go
	// test's -timeout kills the whole package.
	timeout := pebbleBuildTimeout
	if dl, ok := t.Deadline(); ok && time.Until(dl)/2 < timeout {
		timeout = time.Until(dl) / 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	goCmd := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = tmp // outside this module: pkg@version ignores go.mod anyway
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=")
		// Kill the go command's children (compilers, fetches) with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		return cmd
	}
	if out, err := goCmd("install", pebbleARIModule+"/cmd/pebble@"+pebbleARIVersion).CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			t.Skipf("Pebble with ARI: go install %s/cmd/pebble@%s did not finish in %s (module proxy unreachable or slow): %s",
				pebbleARIModule, pebbleARIVersion, timeout, bytes.TrimSpace(out))
		}
		if dlOut, dlErr := goCmd("mod", "download", mod).CombinedOutput(); dlErr != nil {
			t.Skipf("Pebble with ARI: module %s is not available (go mod download: %v: %s); go install: %s",
				mod, dlErr, bytes.TrimSpace(dlOut), bytes.TrimSpace(out))
		}
		t.Fatalf("go install %s/cmd/pebble@%s: %v\n%s", pebbleARIModule, pebbleARIVersion, err, out)
	}
	// Publish the binary atomically (a rename within $TMPDIR); a failure
	// only costs the cache.
	staged := filepath.Join(tmp, "pebble")
	if os.MkdirAll(dir, 0o755) == nil && os.Rename(staged, filepath.Join(dir, "pebble")) == nil {
		return dir
	}
	return tmp
}

// ariProxy sits between aptsnap and Pebble's ACME API. It passes every
// request and answer through unchanged but one header: Pebble answers
// renewalInfo with a fixed Retry-After of 6 hours (wfe/wfe.go, RenewalInfo), and
// certmagic, as RFC 9773 asks, does not poll again before it has passed.
// The proxy makes that 1 second, as a CA wanting quick reactions could,
// so that a window moved mid-test is seen within seconds. The window
// itself, and every other answer, is Pebble's.
type ariProxy struct {
	directory string       // ACME directory URL through the proxy
	polls     atomic.Int64 // renewalInfo answers passed to aptsnap
	mu        sync.Mutex   // guards pebbleRA
	pebbleRA  []string     // Retry-After values Pebble sent
	srv       *httptest.Server
}

func newARIProxy(t *testing.T, p *pebble) *ariProxy {
	t.Helper()
	target, err := url.Parse(p.directory)
	if err != nil {
		t.Fatal(err)
	}
	// Pebble builds its URLs from the Host header, which the proxy keeps:
	// every URL aptsnap is given leads back through the proxy.
	a := &ariProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: target.Host})
	rp.Transport = p.apiClient().Transport
	rp.ModifyResponse = func(resp *http.Response) error {
		if strings.Contains(resp.Request.URL.Path, "/renewalInfo/") && resp.StatusCode == http.StatusOK {
			a.mu.Lock()
			a.pebbleRA = append(a.pebbleRA, resp.Header.Get("Retry-After"))
			a.mu.Unlock()
			resp.Header.Set("Retry-After", "1")
			a.polls.Add(1)
		}
		return nil
	}
	// The proxy presents Pebble's own server certificate (for 127.0.0.1),
	// which aptsnap trusts through ca_root.
	cert, err := tls.LoadX509KeyPair(filepath.Join(p.dir, "server.pem"), filepath.Join(p.dir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	a.srv = httptest.NewUnstartedServer(rp)
	a.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	a.directory = a.srv.URL + target.Path
	return a
}

func (a *ariProxy) pebbleRetryAfter() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.pebbleRA...)
}

// newARIHTTPSEnv is newHTTPSEnv with the Pebble built by buildPebbleARI,
// reached through an ariProxy, and certmagic's maintenance checking every
// checkEvery instead of every 10 minutes.
func newARIHTTPSEnv(t *testing.T, checkEvery time.Duration) (*httpsEnv, *ariProxy) {
	t.Helper()
	pebbleDir := buildPebbleARI(t)
	// startPebble runs the first pebble on PATH (pebble-challtestsrv
	// stays Debian's).
	t.Setenv("PATH", pebbleDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var proxy *ariProxy
	e := newHTTPSEnvWith(t, checkEvery, func(p *pebble) string {
		proxy = newARIProxy(t, p)
		return proxy.directory
	})
	return e, proxy
}

// apiClient talks to Pebble's own HTTPS (ACME and management APIs).
func (p *pebble) apiClient() *http.Client {
	caPEM, _ := os.ReadFile(p.serverCA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

var pebbleManagementRE = regexp.MustCompile(`Management interface listening on: (\S+)`)

// management is the base URL of Pebble's management API.
func (p *pebble) management(t *testing.T) string {
	t.Helper()
	m := pebbleManagementRE.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no management address in pebble's output:\n%s", p.output())
	}
	return "https://" + m[1]
}

// setRenewalInfo makes Pebble answer renewalInfo for leaf with the
// suggested window [start, end].
func (p *pebble) setRenewalInfo(t *testing.T, leaf *x509.Certificate, start, end time.Time) {
	t.Helper()
	window, _ := json.Marshal(map[string]any{"suggestedWindow": map[string]time.Time{"start": start.UTC(), "end": end.UTC()}})
	body, _ := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		"ARIResponse": string(window),
	})
	resp, err := p.apiClient().Post(p.management(t)+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble set-renewal-info: %s", resp.Status)
	}
}

// TestACMEARI runs aptsnap against a Pebble that implements ACME Renewal
// Information: the certificate it obtains (90 days, so neither its expiry
// nor Pebble's default window, two thirds into its lifetime, is near)
// stays as long as the CA's window is in the future, even though
// certmagic polls renewalInfo every second; once Pebble's window for it
// is moved to now, the running server renews it on its own (no restart,
// no call to Renew), the renewal order names the old certificate as the
// one it replaces, and a client loop sees the new certificate with no
// failed request.
func TestACMEARI(t *testing.T) {
	start := time.Now()
	e, proxy := newARIHTTPSEnv(t, time.Second)
	notAfter := e.waitCert(60 * time.Second)
	t.Logf("certificate obtained %s after start, not after %s", time.Since(start).Round(time.Millisecond), notAfter)

	// The CA offers ARI.
	resp, err := e.peb.apiClient().Get(proxy.directory)
	if err == nil {
		var dir map[string]any
		err = json.NewDecoder(resp.Body).Decode(&dir)
		resp.Body.Close()
		if err == nil && dir["renewalInfo"] == nil {
			err = fmt.Errorf("no renewalInfo in the directory: %v", dir)
		}
	}
	if err != nil {
		t.Fatalf("pebble %s directory: %v", pebbleARIVersion, err)
	}

	_, leaf, err := e.fetch(e.client(), "/debian/"+e.serial+"/dists/bookworm/InRelease")
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(leaf.NotAfter); left < 80*24*time.Hour {
		t.Fatalf("certificate expires in %s; the test needs a long-lived one", left)
	}
	// certmagic keeps polling ARI (the proxy lets it every second) and
	// does not renew: the window Pebble gives is weeks away.
	polls := proxy.polls.Load()
	for deadline := time.Now().Add(10 * time.Second); proxy.polls.Load() < polls+3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("aptsnap polled renewalInfo %d times in 10s", proxy.polls.Load()-polls)
		}
	}
	if n := strings.Count(e.peb.output(), "Issued certificate"); n != 1 {
		t.Fatalf("pebble issued %d certificates before the ARI window moved", n)
	}
	st, err := e.app.Certs().Status(context.Background())
	if err != nil || len(st) != 1 || !st[0].ARI || time.Until(st[0].NextRenewal) < 50*24*time.Hour {
		t.Fatalf("status before: %+v %v", st, err)
	}
	t.Logf("Pebble's window: renewal at %s; %d renewalInfo polls; Pebble's Retry-After %v",
		st[0].NextRenewal.Format(time.RFC3339), proxy.polls.Load(), proxy.pebbleRetryAfter()[0])

	loop := e.startClientLoop()

	// The CA says: renew now (a window that opened a minute ago and
	// closes in a second).
	moved := time.Now()
	e.peb.setRenewalInfo(t, leaf, moved.Add(-time.Minute), moved.Add(time.Second))
	newLeaf := e.waitNewLeaf(leaf, 30*time.Second, 50*time.Millisecond)
	renewed := time.Since(moved)
	loop.stop()
	if newLeaf == nil {
		t.Fatalf("the server still presents the old certificate %s 30s after its ARI window moved to now", leaf.SerialNumber)
	}
	if newLeaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 || bytes.Equal(newLeaf.Raw, leaf.Raw) {
		t.Fatalf("serial unchanged: %s", newLeaf.SerialNumber)
	}
	loop.check(t, leaf, newLeaf)
	// Only ARI explains it: the old certificate had most of its life left.
	if left := leaf.NotAfter.Sub(moved); left < 80*24*time.Hour {
		t.Errorf("old certificate had only %s left when renewed", left)
	}
	// certmagic told Pebble which certificate the new one replaces.
	if !strings.Contains(e.peb.output(), "is a replacement of") {
		t.Errorf("pebble logged no ARI replacement order:\n%s", e.peb.output())
	}
	if n := strings.Count(e.peb.output(), "Issued certificate"); n != 2 {
		t.Errorf("pebble issued %d certificates, want 2", n)
	}
	if na := e.app.Certs().NotAfter()[acmeDomain]; !na.Equal(newLeaf.NotAfter) {
		t.Errorf("NotAfter %s, presented %s", na, newLeaf.NotAfter)
	}
	// The new certificate has Pebble's default window, weeks away.
	if st, err := e.app.Certs().Status(context.Background()); err != nil || len(st) != 1 || !st[0].ARI ||
		!st[0].NotAfter.Equal(newLeaf.NotAfter) || time.Until(st[0].NextRenewal) < 50*24*time.Hour {
		t.Errorf("status after: %+v %v", st, err)
	}
	t.Logf("renewed %s after the ARI window moved; %d requests during it, none failed; certificate %s -> %s",
		renewed.Round(time.Millisecond), loop.ok.Load(), leaf.SerialNumber, newLeaf.SerialNumber)
}

// TestBuildPebbleARIUnreachable: a module proxy that accepts connections
// and never answers (the go command has no timeout of its own) skips the
// ARI test after pebbleBuildTimeout instead of holding the e2e run until
// go test's -timeout kills it.
func TestBuildPebbleARIUnreachable(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	t.Setenv("TMPDIR", t.TempDir()) // no cached binary
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOPROXY", "http://"+ln.Addr().String())
	t.Setenv("GOTOOLCHAIN", "local")
	defer func(d time.Duration) { pebbleBuildTimeout = d }(pebbleBuildTimeout)
	pebbleBuildTimeout = 3 * time.Second

	start := time.Now()
	done := make(chan bool)
	var returned bool
	go func() {
		// Run with a deadline of our own: with no timeout in the build,
		// this subtest would hang for good.
		ok := t.Run("build", func(t *testing.T) {
			buildPebbleARI(t)
			returned = true
		})
		done <- ok
	}()
	select {
	case ok := <-done:
		if !ok || returned {
			t.Errorf("buildPebbleARI: passed %v, returned %v; want a skip", ok, returned)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("skipped after %s", d)
		}
	case <-time.After(60 * time.Second):
		t.Error("buildPebbleARI still waiting on the module proxy after 60s")
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close() // the go command fails now
		}
		mu.Unlock()
		<-done
	}
}
