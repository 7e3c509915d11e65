package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/release"
)

func TestServeHTTPSemantics(t *testing.T) {
	e := newEnv(t)
	s1 := e.mustPulse()
	_, packages := e.get("/debian/" + s1.Serial + "/dists/bookworm/main/binary-amd64/Packages")
	var deb string
	for _, l := range strings.Split(packages, "\n") {
		if p, ok := strings.CutPrefix(l, "Filename: "); ok && strings.Contains(p, "hello") {
			deb = p
		}
	}
	if deb == "" {
		t.Fatalf("no hello in Packages:\n%s", packages)
	}
	url := e.srv.URL + "/debian/" + s1.Serial + "/" + deb
	full := mustGet(t, url, nil)
	body, _ := io.ReadAll(full.Body)
	full.Body.Close()
	etag := full.Header.Get("ETag")

	tests := []struct {
		name   string
		method string
		header map[string]string
		code   int
		check  func(*http.Response, []byte) error
	}{
		{"full", "GET", nil, 200, func(r *http.Response, b []byte) error {
			if r.ContentLength != int64(len(b)) || r.Header.Get("Content-Type") != "application/vnd.debian.binary-package" {
				return fmt.Errorf("Content-Length %d for %d bytes, Content-Type %q", r.ContentLength, len(b), r.Header.Get("Content-Type"))
			}
			if etag != `"`+blob.Sum(b).String()+`"` {
				return fmt.Errorf("ETag %s is not the content's sha256", etag)
			}
			return nil
		}},
		{"head", "HEAD", nil, 200, func(r *http.Response, b []byte) error {
			if len(b) != 0 || r.ContentLength != int64(len(body)) {
				return fmt.Errorf("HEAD: %d body bytes, Content-Length %d", len(b), r.ContentLength)
			}
			return nil
		}},
		{"range", "GET", map[string]string{"Range": "bytes=10-19"}, 206, func(r *http.Response, b []byte) error {
			if string(b) != string(body[10:20]) || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(body)) {
				return fmt.Errorf("range got %q, Content-Range %q", b, r.Header.Get("Content-Range"))
			}
			return nil
		}},
		{"suffix range", "GET", map[string]string{"Range": "bytes=-5"}, 206, func(r *http.Response, b []byte) error {
			if string(b) != string(body[len(body)-5:]) {
				return fmt.Errorf("suffix range got %q", b)
			}
			return nil
		}},
		{"unsatisfiable range", "GET", map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(body)+10)}, 416, nil},
		{"if-none-match", "GET", map[string]string{"If-None-Match": etag}, 304, nil},
		{"if-none-match other", "GET", map[string]string{"If-None-Match": `"abc"`}, 200, nil},
		{"if-modified-since later", "GET", map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, 304, nil},
		{"if-modified-since earlier", "GET", map[string]string{"If-Modified-Since": s1.Created.Add(-time.Hour).UTC().Format(http.TimeFormat)}, 200, nil},
		{"post", "POST", nil, 405, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if tt.check != nil {
				if err := tt.check(resp, b); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func mustGet(t *testing.T, url string, h map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// rawGet sends a request line as is (no client-side path cleaning).
func rawGet(t *testing.T, addr, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "SQLite format") || strings.Contains(string(b), "PRIVATE KEY") || strings.Contains(string(b), "root:") {
		t.Fatalf("%s leaked a file outside the store: %.80q", target, b)
	}
	return resp.StatusCode
}

func TestServeURLs(t *testing.T) {
	e := newEnv(t)
	s1 := e.mustPulse()
	e.up.write(1)
	e.clock.Shift(time.Hour)
	s2 := e.mustPulse()
	e.clock.Shift(2 * time.Second) // a timestamp is answered once a second past (snapshots are stamped the second after their commit)

	_, p1 := e.get("/debian/" + s1.Serial + "/dists/bookworm/main/binary-amd64/Packages")
	_, p2 := e.get("/debian/" + s2.Serial + "/dists/bookworm/main/binary-amd64/Packages")
	oldDeb, newDeb := filename(p1, "hello"), filename(p2, "hello")
	if oldDeb == newDeb {
		t.Fatalf("hello did not move between generations: %s", oldDeb)
	}
	_, rel := e.get("/debian/" + s2.Serial + "/dists/bookworm/Release")
	r, err := release.Parse([]byte(rel))
	if err != nil {
		t.Fatal(err)
	}
	var xzHash string
	for p, f := range r.Files {
		if strings.HasSuffix(p, "Packages.xz") {
			xzHash = f.SHA256.String()
		}
	}
	ts := func(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

	for _, tt := range []struct {
		path string
		code int
		has  string
	}{
		{"/debian/" + s1.Serial + "/" + oldDeb, 200, ""},
		{"/debian/" + s2.Serial + "/" + newDeb, 200, ""},
		{"/debian/" + s1.Serial + "/" + newDeb, 404, ""}, // not in that snapshot
		{"/debian/" + s2.Serial + "/" + oldDeb, 404, ""},
		{"/debian/" + s2.Serial + "/dists/bookworm/main/binary-amd64/by-hash/SHA256/" + xzHash, 200, ""},
		{"/debian/" + s2.Serial + "/dists/bookworm/main/binary-amd64/by-hash/SHA256/" + strings.Repeat("0", 64), 404, ""},
		{"/debian/" + s2.Serial + "/dists/bookworm/by-hash/SHA256/" + xzHash, 404, ""}, // wrong directory
		{"/debian/" + ts(s1.Created.Add(30*time.Minute)) + "/dists/bookworm/main/binary-amd64/Packages", 200, "Version: 2.10-1"},
		{"/debian/" + ts(s2.Created) + "/dists/bookworm/main/binary-amd64/Packages", 200, "Version: 2.10-2"},
		{"/debian/" + ts(s1.Created.Add(-time.Hour)) + "/dists/bookworm/InRelease", 404, ""},
		{"/debian/" + ts(e.clock.Now()) + "/dists/bookworm/InRelease", 404, ""}, // not a second past: a commit may still be stamped so
		{"/debian/project/trace/debian", 200, "Archive serial: " + s2.Serial + "\nDate: "},
		{"/keys/aptsnap.asc", 200, "-----BEGIN PGP PUBLIC KEY BLOCK-----"},
		{"/debian/2001010101/dists/bookworm/InRelease", 404, ""},
		{"/debian/latest/dists/bookworm/InRelease", 404, ""},
		{"/nosuch/" + s1.Serial + "/dists/bookworm/InRelease", 404, ""},
		{"/debian/" + s1.Serial + "/dists/sid/InRelease", 404, ""},
		{"/debian/" + s1.Serial + "/dists/bookworm/main/binary-i386/Packages", 404, ""},
		{"/debian/" + s1.Serial + "/elsewhere/x", 404, ""},
		{"/debian/" + s1.Serial + "/pool/", 404, ""},
		{"/debian/" + s1.Serial + "/dists/" + strings.Repeat("a/", 3000) + "x", 414, ""}, // bounded: suites are matched by name, not by every prefix
	} {
		code, body := e.get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.has) {
			t.Errorf("GET %s = %d %.60q, want %d with %q", tt.path, code, body, tt.code, tt.has)
		}
	}
	// Traversal attempts, sent raw so that no client cleans them first.
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for _, target := range []string{
		"/debian/" + s1.Serial + "/pool/../../catalog.db",
		"/debian/" + s1.Serial + "/pool/%2e%2e/%2e%2e/%2e%2e/data/catalog.db",
		"/debian/" + s1.Serial + "/dists/bookworm/../../../../../../etc/passwd",
		"/debian/" + s1.Serial + "/pool/..%2f..%2f..%2fsigning-key.asc",
		"/debian/" + s1.Serial + "/pool/main%00/x",
		"/../../../etc/passwd",
		"/keys/../signing-key.asc",
		"/debian/" + s1.Serial + "//pool/main/h/hello/x.deb",
		"/debian/" + s1.Serial + "/dists/bookworm/main/binary-amd64/by-hash/SHA256/..%2f..%2f..%2fRelease",
	} {
		if code := rawGet(t, addr, target); code < 400 || code >= 500 {
			t.Errorf("GET %s = %d, want 4xx", target, code)
		}
	}
}

func filename(packages, pkg string) string {
	for _, stanza := range strings.Split(packages, "\n\n") {
		if strings.HasPrefix(stanza, "Package: "+pkg+"\n") {
			for _, l := range strings.Split(stanza, "\n") {
				if p, ok := strings.CutPrefix(l, "Filename: "); ok {
					return p
				}
			}
		}
	}
	return ""
}
