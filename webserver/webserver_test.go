package webserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNginxExpected compares the configuration of one site, on the
// defaults, with the text written by hand in testdata.
func TestNginxExpected(t *testing.T) {
	got, err := Nginx(Site{Name: "snapshots.example.org", Export: "/srv/aptsnap/export"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/snapshots.example.org.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("line %d:\n got %q\nwant %q", i+1, g, w)
			}
		}
	}
}

// TestNginxOptions: plain HTTP only on an address, an HTTPS aptsnap, other
// certificate paths; what is refused.
func TestNginxOptions(t *testing.T) {
	got, err := Nginx(Site{Name: "deb.example.org", Export: "/srv/x", NoTLS: true, HTTPListen: "127.0.0.1:8081",
		Aptsnap: "https://10.0.0.2:8443"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	for _, want := range []string{"    listen 127.0.0.1:8081;\n", "upstream aptsnap_deb_example_org {\n    server 10.0.0.2:8443;\n",
		"proxy_pass https://aptsnap_deb_example_org;", "proxy_ssl_server_name on;", `return 403 "API tokens are accepted over HTTPS only\n";`} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in:\n%s", want, s)
		}
	}
	for _, not := range []string{"ssl_certificate", " ssl ", "[::]"} {
		if strings.Contains(s, not) {
			t.Errorf("%q in a plain HTTP configuration", not)
		}
	}
	got, _ = Nginx(Site{Name: "deb.example.org", Export: "/srv/x", Cert: "/etc/ssl/a.pem", Key: "/etc/ssl/a.key", HTTPSListen: "8443"})
	if s := string(got); !strings.Contains(s, "ssl_certificate /etc/ssl/a.pem;\n    ssl_certificate_key /etc/ssl/a.key;") ||
		!strings.Contains(s, "listen 8443 ssl http2;\n    listen [::]:8443 ssl http2;") {
		t.Errorf("certificate paths or HTTPS port not used:\n%s", s)
	}
	for _, tt := range []struct {
		site Site
		want string
	}{
		{Site{Name: "bad name", Export: "/srv/x"}, "--name"},
		{Site{Name: "a.example", Export: "/srv/x;"}, "--export"},
		{Site{Name: "a.example", Export: "/srv/x", Aptsnap: "ftp://h"}, "--aptsnap"},
		{Site{Name: "a.example", Export: "/srv/x", Aptsnap: "http://h:1/api/"}, "--aptsnap"},
		{Site{Name: "a.example", Export: "/srv/x", HTTPListen: "99999"}, "listen"},
		{Site{Name: "a.example"}, "--export"},
	} {
		if _, err := Nginx(tt.site); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want an error about %s", tt.site, err, tt.want)
		}
	}
}

// TestNginxConfigTest: the real nginx accepts both configurations
// (nginx -t), the HTTPS one with a certificate.
func TestNginxConfigTest(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
		t.Skip("nginx not installed")
	}
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	for name, site := range map[string]Site{
		"http and https": {Name: "localhost", Export: dir, Cert: cert, Key: key, HTTPListen: "127.0.0.1:18080", HTTPSListen: "127.0.0.1:18443"},
		"http only":      {Name: "localhost", Export: dir, NoTLS: true, HTTPListen: "127.0.0.1:18080"},
	} {
		t.Run(name, func(t *testing.T) {
			text, err := Nginx(site)
			if err != nil {
				t.Fatal(err)
			}
			p := t.TempDir()
			os.MkdirAll(filepath.Join(p, "tmp"), 0o755)
			os.WriteFile(filepath.Join(p, "site.conf"), text, 0o644)
			main := fmt.Sprintf("events {}\nhttp {\n    access_log off;\n    client_body_temp_path %[1]s/tmp/body;\n    proxy_temp_path %[1]s/tmp/proxy;\n"+
				"    fastcgi_temp_path %[1]s/tmp/fastcgi;\n    uwsgi_temp_path %[1]s/tmp/uwsgi;\n    scgi_temp_path %[1]s/tmp/scgi;\n"+
				"    include %[1]s/site.conf;\n}\n", p)
			os.WriteFile(filepath.Join(p, "nginx.conf"), []byte(main), 0o644)
			out, err := exec.Command("/usr/sbin/nginx", "-t", "-p", p, "-c", filepath.Join(p, "nginx.conf"),
				"-g", "pid "+filepath.Join(p, "nginx.pid")+"; error_log stderr;").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "test is successful") {
				t.Fatalf("nginx -t: %v\n%s", err, out)
			}
		})
	}
}

func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return cert, key
}
