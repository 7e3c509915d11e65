package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/config"
)

func selfSigned(t *testing.T, name string, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// TestInstall: files written with their modes, test and reload run in
// order; a failing test puts the previous files back, is recorded and
// retried; a failing reload likewise.
func TestInstall(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	logf := filepath.Join(dir, "log")
	failTest, failReload := filepath.Join(dir, "fail-test"), filepath.Join(dir, "fail-reload")
	cfg := &config.TLS{ACME: &config.ACME{Email: "a@b.c", CA: "https://127.0.0.1:1/dir"}, Install: []config.Install{{
		Server: "nginx", Name: "a.test", Names: []string{"a.test"},
		CertPath: filepath.Join(dir, "etc/a.test/fullchain.pem"), KeyPath: filepath.Join(dir, "etc/a.test/privkey.pem"),
		Test:   "echo test >>" + logf + "; test ! -e " + failTest + " || { echo broken config; exit 1; }",
		Reload: "echo reload >>" + logf + "; test ! -e " + failReload,
	}}}
	in, err := NewInstaller(cfg, filepath.Join(dir, "certs"), nil, InstallOptions{RetryInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	put := func(serial int64) ([]byte, []byte) {
		c, k := selfSigned(t, "a.test", serial)
		b, _ := json.Marshal(bundle{Names: []string{"a.test"}, Cert: c, Key: k})
		if err := in.storage.Store(ctx, bundleKey("a.test"), b); err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	e := cfg.Install[0]
	check := func(c, k []byte) {
		t.Helper()
		gc, _ := os.ReadFile(e.CertPath)
		gk, _ := os.ReadFile(e.KeyPath)
		if string(gc) != string(c) || string(gk) != string(k) {
			t.Fatal("installed files are not the expected ones")
		}
	}
	c1, k1 := put(1)
	if err := in.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check(c1, k1)
	for p, mode := range map[string]os.FileMode{e.CertPath: 0o644, e.KeyPath: 0o600, filepath.Dir(e.CertPath): 0o755 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v, want %v (%v)", p, fi.Mode(), mode, err)
		}
	}
	if b, _ := os.ReadFile(logf); string(b) != "test\nreload\n" {
		t.Errorf("commands run: %q", b)
	}
	st := in.Status(ctx)
	if len(st) != 1 || st[0].Serial != "1" || st[0].Error != "" || st[0].LastSuccess.IsZero() {
		t.Fatalf("status %+v", st)
	}

	// A broken web server configuration: the old files stay.
	os.WriteFile(failTest, nil, 0o644)
	c2, k2 := put(2)
	if err := in.Sync(ctx); err == nil || !strings.Contains(err.Error(), "test command") {
		t.Fatalf("sync with a failing test: %v", err)
	}
	check(c1, k1)
	st = in.Status(ctx)
	if st[0].Serial != "1" || !strings.Contains(st[0].Output, "broken config") || st[0].Failures != 1 {
		t.Fatalf("status after a failed test %+v", st[0])
	}
	// Not retried at once; after RetryInterval, with a failing reload.
	os.Remove(failTest)
	if err := in.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check(c1, k1)
	time.Sleep(250 * time.Millisecond)
	os.WriteFile(failReload, nil, 0o644)
	if err := in.Sync(ctx); err == nil || !strings.Contains(err.Error(), "reload command") {
		t.Fatalf("sync with a failing reload: %v", err)
	}
	check(c1, k1)
	os.Remove(failReload)
	time.Sleep(250 * time.Millisecond)
	if err := in.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check(c2, k2)
	if st = in.Status(ctx); st[0].Serial != "2" || st[0].Error != "" {
		t.Fatalf("status after the retry %+v", st[0])
	}
	// Another Installer (cert status) reads the recorded state.
	in2, _ := NewInstaller(cfg, filepath.Join(dir, "certs"), nil, InstallOptions{})
	defer in2.Stop()
	if st = in2.Status(ctx); st[0].Serial != "2" || st[0].LastSuccess.IsZero() {
		t.Fatalf("recorded status %+v", st[0])
	}
}

// TestDue: a certificate is replaced when a third of its lifetime is
// left, or when the entry's names are not its names (in any order).
func TestDue(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{NotBefore: now.Add(-60 * 24 * time.Hour), NotAfter: now.Add(31 * 24 * time.Hour)}
	e := config.Install{Name: "a.test", Names: []string{"a.test", "www.a.test"}}
	for _, tt := range []struct {
		names []string
		at    time.Time
		want  bool
	}{
		{[]string{"a.test", "www.a.test"}, now, false},
		{[]string{"www.a.test", "a.test"}, now, false},
		{[]string{"a.test", "www.a.test"}, now.Add(24 * time.Hour), true}, // 30 of 90 days left
		{[]string{"a.test"}, now, true},
		{[]string{"a.test", "www.a.test", "b.test"}, now, true},
	} {
		if got := due(e, &bundle{Names: tt.names}, leaf, tt.at); got != tt.want {
			t.Errorf("names %v at %s: due %v, want %v", tt.names, tt.at, got, tt.want)
		}
	}
}

// TestObtainFailure: a CA that does not answer is recorded (status,
// metrics, storage for cert status) with a growing wait before the next
// try; the certificate files are left alone.
func TestObtainFailure(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg := &config.TLS{ACME: &config.ACME{Email: "a@b.c", CA: "https://127.0.0.1:1/dir"}, Install: []config.Install{{
		Server: "nginx", Name: "a.test", Names: []string{"a.test", "www.a.test"},
		CertPath: filepath.Join(dir, "etc/fullchain.pem"), KeyPath: filepath.Join(dir, "etc/privkey.pem"), Reload: "true"}}}
	in, err := NewInstaller(cfg, filepath.Join(dir, "certs"), nil, InstallOptions{RetryInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	var waits []time.Duration
	for range 2 {
		if _, err := in.ensure(ctx, cfg.Install[0], false); err == nil {
			t.Fatal("obtained from a CA that does not answer")
		}
		st := in.Status(ctx)[0]
		if st.ObtainError == "" || !st.Missing || st.ObtainFailures == 0 {
			t.Fatalf("status %+v", st)
		}
		waits = append(waits, time.Until(st.NextObtain))
	}
	if waits[0] < time.Second || waits[1] <= waits[0] {
		t.Errorf("waits before the next try: %v, want growing from the retry interval", waits)
	}
	if _, err := os.Stat(cfg.Install[0].CertPath); err == nil {
		t.Error("a certificate file was written")
	}
	in2, _ := NewInstaller(cfg, filepath.Join(dir, "certs"), nil, InstallOptions{})
	defer in2.Stop()
	if st := in2.Status(ctx)[0]; !strings.Contains(st.ObtainError, "127.0.0.1:1") || st.NextObtain.IsZero() {
		t.Errorf("recorded status %+v", st)
	}
}

// TestReloadsApart: two entries of one web server installed in one Sync
// reload it a second apart, not twice at once (Apache signalled during
// its graceful restart stops).
func TestReloadsApart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	logf := filepath.Join(dir, "reloads")
	var entries []config.Install
	for _, n := range []string{"a.test", "b.test"} {
		entries = append(entries, config.Install{Server: "apache2", Name: n, Names: []string{n},
			CertPath: filepath.Join(dir, n, "fullchain.pem"), KeyPath: filepath.Join(dir, n, "privkey.pem"),
			Reload: "date +%s.%N >>" + logf})
	}
	in, err := NewInstaller(&config.TLS{ACME: &config.ACME{Email: "a@b.c", CA: "https://127.0.0.1:1/dir"}, Install: entries},
		filepath.Join(dir, "certs"), nil, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	for i, e := range entries {
		c, k := selfSigned(t, e.Name, int64(i+1))
		b, _ := json.Marshal(bundle{Names: e.Names, Cert: c, Key: k})
		if err := in.storage.Store(ctx, bundleKey(e.Name), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(logf)
	var times []float64
	for _, l := range strings.Fields(string(b)) {
		var f float64
		fmt.Sscan(l, &f)
		times = append(times, f)
	}
	if len(times) != 2 || times[1]-times[0] < 0.95 {
		t.Errorf("reloads at %v: want two, a second apart", times)
	}
}
