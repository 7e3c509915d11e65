// Package webserver writes the site configuration of a web server that
// serves aptsnap's snapshots from an export directory (see package
// export), with aptsnap behind it for what only it answers: timestamp
// URLs, the admin API, the web UI, the metrics and ACME HTTP-01
// challenges.
package webserver

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/aptsnap/aptsnap/names"
)

// Site is one virtual host serving an export.
type Site struct {
	// Name is the host name clients use (server_name, ServerName), and
	// Aliases its other names (ServerAlias): one certificate names them
	// all ([[tls.install]] names).
	Name    string
	Aliases []string
	// Export is the export directory (absolute).
	Export string
	// Aptsnap is aptsnap's URL, to which the rest is proxied
	// (DefaultAptsnap when empty).
	Aptsnap string
	// Cert and Key are the certificate chain and its key the HTTPS server
	// presents (DefaultCert and DefaultKey of Name when empty).
	Cert, Key string
	// HTTPListen and HTTPSListen are where the web server listens: a port
	// ("80": on IPv4 and IPv6) or an address ("127.0.0.1:8081").
	// Defaults "80" and "443".
	HTTPListen, HTTPSListen string
	// NoTLS leaves the HTTPS server out.
	NoTLS bool
}

// DefaultAptsnap is where aptsnap listens by default.
const DefaultAptsnap = "http://127.0.0.1:8080"

// DefaultCert and DefaultKey are where the certificate of host is
// expected when no path is given: where aptsnap installs the
// certificates it obtains for a web server.
func DefaultCert(host string) string { return "/etc/aptsnap/tls/" + host + "/fullchain.pem" }

// DefaultKey is the key of DefaultCert.
func DefaultKey(host string) string { return "/etc/aptsnap/tls/" + host + "/privkey.pem" }

// Cache-Control of each kind of file, as the configuration sets them.
const (
	// CacheImmutable is for pool files and by-hash indices: named by
	// their content (or by a path whose content never changes), they
	// never change.
	CacheImmutable = "public, max-age=31536000, immutable"
	// CacheShort is for Release files, indices by path and trace files:
	// a bump re-signs a snapshot's Release files at the same URL (a new
	// Valid-Until), a pulse moves the trace file, an expiry or untrack
	// withdraws a snapshot; a minute bounds how long a cache serves the
	// old one.
	CacheShort = "public, max-age=60"
)

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// check validates s and fills in its defaults.
func (s *Site) check() error {
	for _, n := range append([]string{s.Name}, s.Aliases...) {
		if !hostRE.MatchString(n) || len(n) > 253 {
			return fmt.Errorf("--name %q: want a host name (letters, digits, '-' and '.')", n)
		}
	}
	if s.Export == "" {
		return fmt.Errorf("--export: the export directory is needed")
	}
	if !filepath.IsAbs(s.Export) {
		abs, err := filepath.Abs(s.Export)
		if err != nil {
			return err
		}
		s.Export = abs
	}
	s.Export = filepath.Clean(s.Export)
	if s.Aptsnap == "" {
		s.Aptsnap = DefaultAptsnap
	}
	u, err := url.Parse(s.Aptsnap)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("--aptsnap %q: want aptsnap's base URL, http://HOST:PORT or https://HOST:PORT", s.Aptsnap)
	}
	if s.Cert == "" {
		s.Cert = DefaultCert(s.Name)
	}
	if s.Key == "" {
		s.Key = DefaultKey(s.Name)
	}
	if s.HTTPListen == "" {
		s.HTTPListen = "80"
	}
	if s.HTTPSListen == "" {
		s.HTTPSListen = "443"
	}
	for _, l := range []string{s.HTTPListen, s.HTTPSListen} {
		if _, err := listens(l); err != nil {
			return err
		}
	}
	for what, v := range map[string]string{"--export": s.Export, "--cert": s.Cert, "--key": s.Key} {
		if strings.ContainsAny(v, " \t\n;{}\"'$#\\") {
			return fmt.Errorf("%s %q: a path without spaces, quotes or any of ;{}$#\\", what, v)
		}
	}
	return nil
}

// listens turns a port or an address into the addresses of nginx's
// listen directives: a bare port listens on IPv4 and IPv6.
func listens(l string) ([]string, error) {
	if p, err := strconv.Atoi(l); err == nil {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("listen %q: port out of range", l)
		}
		return []string{l, "[::]:" + l}, nil
	}
	host, port, err := net.SplitHostPort(l)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 1 || p > 65535 || strings.ContainsAny(host, " ;{}") {
		return nil, fmt.Errorf("listen %q: want a port or HOST:PORT", l)
	}
	return []string{l}, nil
}

// Nginx returns the nginx site configuration of s: a file for
// /etc/nginx/sites-available (it goes in nginx's http block).
func Nginx(s Site) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(s.Aptsnap)
	httpL, _ := listens(s.HTTPListen)
	httpsL, _ := listens(s.HTTPSListen)
	d := nginxData{Site: s, Upstream: "aptsnap_" + regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(s.Name, "_"),
		Scheme: u.Scheme, Backend: u.Host, HTTP: httpL, HTTPS: httpsL,
		Archive: archiveRE, Tag: tagRE}
	var b bytes.Buffer
	if err := nginxTmpl.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// The archive and tag name patterns of package names, unanchored, for
// the locations' regular expressions.
var (
	archiveRE = strings.TrimSuffix(strings.TrimPrefix(names.ArchivePattern, "^"), "$")
	tagRE     = `[A-Za-z0-9][A-Za-z0-9.+_~-]*`
)

type nginxData struct {
	Site
	Upstream, Scheme, Backend string
	HTTP, HTTPS               []string
	Archive, Tag              string
	TLS                       bool // the server block being written is the HTTPS one
}

// WithTLS is d for the HTTPS server block.
func (d nginxData) WithTLS(tls bool) nginxData { d.TLS = tls; return d }

// Cache-Control values for the template.
func (nginxData) Immutable() string { return CacheImmutable }
func (nginxData) Short() string     { return CacheShort }

var nginxTmpl = template.Must(template.New("nginx").Parse(nginxText))

const nginxText = `# aptsnap: the snapshots of {{.Name}} served by nginx from the export
# {{.Export}} (kept in step by ` + "`aptsnap export --dir {{.Export}} --follow`" + `
# or by ` + "`aptsnap serve`" + ` with [export] dir), and what only aptsnap answers
# (timestamp URLs, /api/, /ui/, /metrics, ACME HTTP-01) proxied to
# {{.Aptsnap}}.
#
# Generated by ` + "`aptsnap webserver-config nginx`" + `. Install it as
# /etc/nginx/sites-available/aptsnap-{{.Name}}, link it into sites-enabled,
# then: nginx -t && systemctl reload nginx
#
# Caching: pool files and by-hash indices never change (immutable, a
# year). Release files, indices by path and trace files: a minute, since a
# bump re-signs a snapshot's Release files at the same URL (a new
# Valid-Until), a pulse moves the trace file, and an expiry or untrack
# withdraws a snapshot.

upstream {{.Upstream}} {
    server {{.Backend}};
    keepalive 16;
}
{{define "proxy"}}        proxy_pass {{.Scheme}}://{{.Upstream}};
{{end}}
{{- define "site"}}    root {{.Export}};
    autoindex off;

    # For what is proxied to aptsnap.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
{{- if eq .Scheme "https"}}
    proxy_ssl_server_name on;
{{- end}}

    types {
        application/vnd.debian.binary-package deb udeb ddeb;
        text/prs.lines.tag dsc;
        application/gzip gz;
        application/x-xz xz;
        application/x-bzip2 bz2;
        application/x-lzma lzma;
        application/zstd zst;
        application/x-lz4 lz4;
        application/pgp-signature gpg asc sig;
    }
    default_type application/octet-stream;

    # Nothing but what aptsnap serves: the export's own files stay hidden.
    location / {
        return 404;
    }
    location ^~ /.aptsnap/ {
        return 404;
    }

    # Timestamp URLs: the newest snapshot at an instant is aptsnap's to find.
    location ~ "^/{{.Archive}}/[0-9]{8}T[0-9]{6}Z/" {
{{template "proxy" .}}    }

    # Pool files and by-hash indices of a serial or a tag: they never change.
    location ~ "^/({{.Archive}}/[0-9]{10}|tagged/{{.Tag}}/{{.Archive}})/(pool/|dists/.+/by-hash/)" {
        try_files $uri =404;
        add_header Cache-Control "{{.Immutable}}";
    }

    # Release files and indices by path: a bump re-signs the Release files.
    location ~ "^/({{.Archive}}/[0-9]{10}|tagged/{{.Tag}}/{{.Archive}})/dists/" {
        try_files $uri =404;
        default_type text/plain;
        charset utf-8;
        add_header Cache-Control "{{.Short}}";
    }

    # Trace files: "Archive serial: <latest>", moved by every pulse.
    location ~ "^/{{.Archive}}/project/trace/{{.Archive}}$" {
        try_files $uri =404;
        default_type text/plain;
        charset utf-8;
        add_header Cache-Control "{{.Short}}";
    }

    location = /keys/aptsnap.asc {
        types { }
        default_type application/pgp-keys;
        add_header Cache-Control "public, max-age=3600";
    }

    # aptsnap itself: the admin API (uploads streamed through; a GC or an
    # import answers when done), the web UI (/ redirects there), the metrics.
    location ^~ /api/ {
{{- if not .TLS}}
        # API tokens never travel in clear: aptsnap refuses them over plain
        # HTTP, and through the proxy every request would come from loopback.
        if ($http_authorization) {
            return 403 "API tokens are accepted over HTTPS only\n";
        }
{{- end}}
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_read_timeout 1h;
{{template "proxy" .}}    }
    location ~ "^/(ui(/.*)?|metrics)?$" {
{{template "proxy" .}}    }
{{end}}
# Plain HTTP: APT needs nothing more (the Release signatures protect
# what it fetches); the CA's HTTP-01 challenges go to aptsnap.
server {
{{- range .HTTP}}
    listen {{.}};
{{- end}}
    server_name {{.Name}}{{range .Aliases}} {{.}}{{end}};

{{template "site" .WithTLS false}}
    location ^~ /.well-known/acme-challenge/ {
{{template "proxy" .}}    }
}
{{- if not .NoTLS}}

server {
{{- range .HTTPS}}
    listen {{.}} ssl http2;
{{- end}}
    server_name {{.Name}}{{range .Aliases}} {{.}}{{end}};

    ssl_certificate {{.Cert}};
    ssl_certificate_key {{.Key}};
    ssl_protocols TLSv1.2 TLSv1.3;

{{template "site" .WithTLS true}}}
{{- end}}
`
