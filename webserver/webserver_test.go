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

// TestExpected compares the configuration of one site, on the defaults,
// with the text in testdata, for each web server.
func TestExpected(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(Site) ([]byte, error)
		file string
	}{
		{"nginx", Nginx, "testdata/snapshots.example.org.conf"},
		{"apache2", Apache2, "testdata/snapshots.example.org.apache2.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.gen(Site{Name: "snapshots.example.org", Export: "/srv/aptsnap/export"})
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
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
		})
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
	got, _ = Nginx(Site{Name: "deb.example.org", Aliases: []string{"www.example.org"}, Export: "/srv/x", Cert: "/etc/ssl/a.pem", Key: "/etc/ssl/a.key", HTTPSListen: "8443"})
	if s := string(got); strings.Count(s, "server_name deb.example.org www.example.org;\n") != 2 {
		t.Errorf("aliases not in both server blocks:\n%s", s)
	}
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
		{Site{Name: "a.example", Aliases: []string{"b;c"}, Export: "/srv/x"}, "--name"},
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

// TestApache2Options: plain HTTP only on an address, an HTTPS aptsnap,
// other certificate paths and ports; what is refused.
func TestApache2Options(t *testing.T) {
	got, err := Apache2(Site{Name: "deb.example.org", Export: "/srv/x.y", NoTLS: true, HTTPListen: "127.0.0.1:8081",
		Aptsnap: "https://10.0.0.2:8443"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	for _, want := range []string{"\n    Listen 127.0.0.1:8081\n", "<VirtualHost 127.0.0.1:8081>\n", "SSLProxyEngine On",
		`ProxyPass "/api/" "https://10.0.0.2:8443/api/"`, `"^/srv/x\.y/`, `RewriteRule "^/api/" - [R=403,L]`, "a2enmod rewrite proxy_http headers mime\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in:\n%s", want, s)
		}
	}
	for _, not := range []string{"SSLCertificateFile", "SSLEngine", "https\n", ":443"} {
		if strings.Contains(s, not) {
			t.Errorf("%q in a plain HTTP configuration", not)
		}
	}
	got, _ = Apache2(Site{Name: "deb.example.org", Aliases: []string{"www.example.org", "deb2.example.org"}, Export: "/srv/x", Cert: "/etc/ssl/a.pem", Key: "/etc/ssl/a.key", HTTPSListen: "8443"})
	if s := string(got); strings.Count(s, "ServerName deb.example.org\n    ServerAlias www.example.org\n    ServerAlias deb2.example.org\n") != 2 {
		t.Errorf("aliases not in both virtual hosts:\n%s", s)
	}
	if s := string(got); !strings.Contains(s, "SSLCertificateFile /etc/ssl/a.pem\n    SSLCertificateKeyFile /etc/ssl/a.key\n") ||
		!strings.Contains(s, "\n    Listen 8443 https\n") || !strings.Contains(s, "<VirtualHost *:8443>") || strings.Contains(s, "Listen 80") {
		t.Errorf("certificate paths or HTTPS port not used:\n%s", s)
	}
	if _, https, _ := strings.Cut(string(got), "<VirtualHost *:8443>"); strings.Contains(https, "R=403") || strings.Contains(https, "acme-challenge") {
		t.Errorf("the token refusal or the ACME challenges outside the plain HTTP host:\n%s", s)
	}
	for _, site := range []Site{
		{Name: "bad name", Export: "/srv/x"},
		{Name: "a.example", Export: "/srv/x y"},
		{Name: "a.example", Export: "/srv/x", Aptsnap: "ftp://h"},
		{Name: "a.example", Export: "/srv/x", HTTPSListen: "0"},
	} {
		if _, err := Apache2(site); err == nil {
			t.Errorf("%+v accepted", site)
		}
	}
}

const apacheBin = "/usr/sbin/apache2"

// apacheModules are the modules the generated configuration needs, and
// those a minimal server needs around it.
var apacheModules = []string{"mpm_event", "authz_core", "alias", "rewrite", "proxy", "proxy_http", "headers", "mime", "ssl", "dir", "log_config", "unixd"}

// ApacheMain is a minimal httpd.conf in dir including site: every path
// in dir, the modules from Debian's package (those built in skipped).
func apacheMain(dir, site string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot %[1]s\nPidFile %[1]s/apache2.pid\nErrorLog %[1]s/error.log\nDefaultRuntimeDir %[1]s\nMutex file:%[1]s\nServerName localhost\nTypesConfig /etc/mime.types\n", dir)
	for _, m := range apacheModules {
		fmt.Fprintf(&b, "<IfModule !%[1]s_module>\n    LoadModule %[1]s_module /usr/lib/apache2/modules/mod_%[1]s.so\n</IfModule>\n", m)
	}
	fmt.Fprintf(&b, "Include %s\n", site)
	return b.String()
}

// TestApache2ConfigTest: the real apache2 accepts both configurations
// (apache2 -t), the HTTPS one with a certificate.
func TestApache2ConfigTest(t *testing.T) {
	if _, err := os.Stat(apacheBin); err != nil {
		t.Skip("apache2 not installed (scripts/install-deps)")
	}
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	for name, sites := range map[string][]Site{
		"http and https": {{Name: "localhost", Export: dir, Cert: cert, Key: key, HTTPListen: "127.0.0.1:18080", HTTPSListen: "18443"}},
		"http only":      {{Name: "localhost", Export: dir, NoTLS: true, HTTPListen: "18080", Aptsnap: "https://127.0.0.1:8443"}},
		"two virtual hosts on the same ports": {
			{Name: "a.example.org", Aliases: []string{"www.a.example.org"}, Export: dir, Cert: cert, Key: key, HTTPListen: "127.0.0.1:18080", HTTPSListen: "18443"},
			{Name: "b.example.org", Export: dir, Cert: cert, Key: key, HTTPListen: "127.0.0.1:18080", HTTPSListen: "18443"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var text []byte
			for _, site := range sites {
				b, err := Apache2(site)
				if err != nil {
					t.Fatal(err)
				}
				text = append(text, b...)
			}
			p := t.TempDir()
			os.WriteFile(filepath.Join(p, "site.conf"), text, 0o644)
			os.WriteFile(filepath.Join(p, "httpd.conf"), []byte(apacheMain(p, filepath.Join(p, "site.conf"))), 0o644)
			out, err := exec.Command(apacheBin, "-t", "-f", filepath.Join(p, "httpd.conf")).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Syntax OK") || strings.Contains(string(out), "AH0") {
				t.Fatalf("apache2 -t: %v\n%s", err, out)
			}
		})
	}
}
