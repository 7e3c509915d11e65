package serve

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
)

// fakeCatalog knows no snapshot and no pool file but those the server
// has cached; fakeStore holds the files given.
type fakeCatalog struct{ catalog.Catalog }

func (fakeCatalog) Snapshot(context.Context, string, string) (catalog.Snapshot, error) {
	return catalog.Snapshot{}, catalog.ErrNotFound
}

func (fakeCatalog) SnapshotAt(context.Context, string, time.Time) (catalog.Snapshot, error) {
	return catalog.Snapshot{}, catalog.ErrNotFound
}

func (fakeCatalog) LookupPool(context.Context, string, string) ([]catalog.PoolFile, error) {
	return nil, nil
}

type fakeStore struct {
	blob.Store
	files map[blob.Digest][]byte
}

func (s fakeStore) ReadFile(_ context.Context, d blob.Digest, buf []byte) ([]byte, error) {
	f, ok := s.files[d]
	if !ok {
		return buf, blob.ErrNotFound
	}
	return append(buf, f...), nil
}

// cachedServer is a server whose caches hold a snapshot and three pool
// files of it, as after a first request for each; the file cache holds
// the first two, the store the fourth too.
func cachedServer(t *testing.T) (*Server, *snapView) {
	t.Helper()
	store := fakeStore{files: map[blob.Digest][]byte{}}
	s := New(Options{Archives: []string{"debian"}, Catalog: fakeCatalog{}, Store: store})
	v := &snapView{snap: catalog.Snapshot{ID: 3, Archive: "debian", Serial: "2026120101",
		Created: time.Date(2026, 12, 1, 5, 15, 26, 0, time.UTC)}, suites: map[string]*suiteView{}}
	v.lastMod = lastModified(v.snap.Created)
	s.snaps.put(snapKey{"debian", "2026120101"}, v)
	for _, f := range []struct {
		path string
		data []byte
	}{
		{"pool/main/h/hello/hello_1_amd64.deb", bytes.Repeat([]byte("deb"), 200)},
		{"pool/main/h/hello/hello_1.tar.xz.unknown", []byte("?")},
		{"pool/main/b/big/big_1_amd64.deb", bytes.Repeat([]byte("b"), smallFile+1)},
		{"pool/main/s/stored/stored_1_all.deb", []byte("only in the store")},
	} {
		d := blob.Sum(f.data)
		s.answers.put(v, f.path, catalog.PoolFile{PoolEntry: catalog.PoolEntry{SHA256: d, Size: int64(len(f.data))}})
		store.files[d] = f.data
		if !strings.Contains(f.path, "stored") {
			s.files.put(d, f.data)
		}
	}
	return s, v
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)

// TestAppendSmall: what AppendSmall answers is, byte for byte but the
// Date, what net/http answers through ServeHTTP; what is not a small pool
// file it leaves to ServeHTTP.
func TestAppendSmall(t *testing.T) {
	s, _ := cachedServer(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	viaNetHTTP := func(method, target string) []byte {
		io.WriteString(c, method+" "+target+" HTTP/1.1\r\nHost: x\r\n\r\n")
		var raw bytes.Buffer
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		resp.Write(&raw) // canonical form: compare both in it
		return raw.Bytes()
	}
	canonical := func(method string, b []byte) []byte {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		resp.Write(&raw)
		return raw.Bytes()
	}
	for _, method := range []string{"GET", "HEAD"} {
		for _, target := range []string{"/debian/2026120101/pool/main/h/hello/hello_1_amd64.deb", "/debian/2026120101/pool/main/h/hello/hello_1.tar.xz.unknown",
			"/debian/2026120101/pool/main/s/stored/stored_1_all.deb"} {
			out, n, ok := s.AppendSmall(context.Background(), []byte("x"), target, method == "HEAD", time.Now())
			if !ok || !bytes.HasPrefix(out, []byte("x")) {
				t.Fatalf("%s %s: not answered", method, target)
			}
			out = out[1:]
			if want := bytes.Index(out, []byte("\r\n\r\n")) + 4; len(out)-want != n {
				t.Errorf("%s %s: body length %d reported, %d appended", method, target, n, len(out)-want)
			}
			got, want := canonical(method, out), viaNetHTTP(method, target)
			got, want = dateLine.ReplaceAll(got, []byte("Date: -\r")), dateLine.ReplaceAll(want, []byte("Date: -\r"))
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s:\n%s\nnet/http:\n%s", method, target, got, want)
			}
			if !bytes.Contains(out, []byte("\r\nDate: ")) {
				t.Errorf("%s %s: no Date", method, target)
			}
		}
	}
	for _, target := range []string{
		"/debian/2026120101/pool/main/b/big/big_1_amd64.deb",      // not small
		"/debian/2026120101/pool/main/h/hello/hello_2_amd64.deb",  // not found
		"/debian/2026120102/pool/main/h/hello/hello_1_amd64.deb",  // no such snapshot
		"/debian/2026120101/pool/main/h/hello/hello_1_amd64.deb?", // a query
		"/debian/2026120101/pool/main/h/hello/hello%5F1_amd64.deb",
		"/debian/2026120101/pool/main/h/hello/../hello/hello_1_amd64.deb",
		"/debian/2026120101/pool/main/h/hello//hello_1_amd64.deb",
		"/debian/2026120101/dists/s/InRelease",
		"/other/2026120101/pool/main/h/hello/hello_1_amd64.deb",
		"/debian/20261201T000000Z/pool/main/h/hello/hello_1_amd64.deb",
		"debian/2026120101/pool/main/h/hello/hello_1_amd64.deb",
		"/debian/2026120101/pool/main/h/hello/hello_1_amd64.deb\x01",
		"/",
	} {
		if out, _, ok := s.AppendSmall(context.Background(), nil, target, false, time.Now()); ok {
			t.Errorf("%q answered:\n%s", target, out)
		}
	}
}

// BenchmarkAppendSmall is the handler's share of an answer from memory.
func BenchmarkAppendSmall(b *testing.B) {
	s, _ := cachedServer(&testing.T{})
	buf := make([]byte, 0, 4096)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		buf, _, _ = s.AppendSmall(context.Background(), buf[:0], "/debian/2026120101/pool/main/h/hello/hello_1_amd64.deb", false, now)
	}
}
