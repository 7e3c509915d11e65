package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
)

// derivedSnapshot publishes a snapshot of suite "s" listing the plain
// main/Contents-amd64 (not stored) and its stored .gz, and returns a
// server of it and the plain content.
func derivedSnapshot(t *testing.T, plain []byte, listed []byte) (*Server, string) {
	t.Helper()
	e := testenv.New(t)
	ctx := context.Background()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	info, err := e.Store.Put(ctx, bytes.NewReader(gz.Bytes()), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := release.Parse([]byte("Origin: Debian\nSuite: s\nCodename: s\nDate: Thu, 01 Jan 2026 00:00:00 UTC\n"))
	files := []release.File{
		{Path: "main/Contents-amd64", SHA256: blob.Sum(listed), Size: int64(len(listed))},
		{Path: "main/Contents-amd64.gz", SHA256: info.Digest, Size: info.Size},
	}
	snaps, err := e.Publisher.Publish(ctx, publish.Snapshot{Archive: "debian", ValidDays: 10, URL: "http://x",
		Suites: []publish.Suite{{Name: "s", Fields: rel, Files: files, Upstream: info.Digest}}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Catalog: e.Catalog, Store: e.Store, Archives: []string{"debian"}, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	return s, "/debian/" + snaps[0].Serial + "/dists/s/main/Contents-amd64"
}

// TestDerivedFile: a plain file listed but not stored is served
// decompressed, with its ETag, 304 on a match, HEAD without a body; one
// whose content is not the listed one ends short, never silently wrong.
func TestDerivedFile(t *testing.T) {
	plain := bytes.Repeat([]byte("usr/bin/hello   utils/hello\n"), 1000)
	s, url := derivedSnapshot(t, plain, plain)
	get := func(method string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	w := get("GET")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), plain) || w.Header().Get("Content-Length") != "28000" {
		t.Fatalf("GET: %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	etag := w.Header().Get("ETag")
	if w := get("GET", "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := get("HEAD"); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "28000" {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}

	// The Release lists other content: the body stops short of its length.
	bad, badURL := derivedSnapshot(t, plain, append(bytes.Clone(plain[:len(plain)-1]), '!'))
	w = httptest.NewRecorder()
	bad.ServeHTTP(w, httptest.NewRequest("GET", badURL, nil))
	if w.Body.Len() >= len(plain) {
		t.Errorf("content not the listed one served whole: %d bytes", w.Body.Len())
	}
}

// TestDerivedSlots: clients that stop reading lose their decompression
// slot after the write stall; while every slot is busy, another request
// waits a little, then gets 503 with Retry-After.
func TestDerivedSlots(t *testing.T) {
	plain := bytes.Repeat([]byte(strings.Repeat("x", 99)+"\n"), 200000) // 20 MB: more than socket buffers
	s, url := derivedSnapshot(t, plain, plain)
	s.deriveWait, s.writeStall = 200*time.Millisecond, time.Second
	srv := httptest.NewServer(s)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for range maxDeriving {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET "+url+" HTTP/1.1\r\nHost: x\r\n\r\n")
		c.Read(make([]byte, 64)) // the status line; then nothing
	}
	resp, err := http.Get(srv.URL + url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with every slot held: %d, want 503 with Retry-After", resp.StatusCode)
	}
	// After the stall, the slots are free again.
	time.Sleep(2 * time.Second)
	resp, err = http.Get(srv.URL + url)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || n != int64(len(plain)) {
		t.Errorf("after the stall: %d, %d bytes", resp.StatusCode, n)
	}
}
