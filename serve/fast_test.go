package serve

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	dir   string
	files map[blob.Digest][]byte
}

func (s fakeStore) ReadFile(_ context.Context, d blob.Digest, buf []byte) ([]byte, error) {
	f, ok := s.files[d]
	if !ok {
		return buf, blob.ErrNotFound
	}
	return append(buf, f...), nil
}

func (s fakeStore) Open(_ context.Context, d blob.Digest) (io.ReadSeekCloser, blob.Info, error) {
	f, err := os.Open(filepath.Join(s.dir, d.String()))
	if err != nil {
		return nil, blob.Info{}, blob.ErrNotFound
	}
	fi, _ := f.Stat()
	return f, blob.Info{Digest: d, Size: fi.Size()}, nil
}

func (s fakeStore) add(t testing.TB, data []byte) blob.Digest {
	d := blob.Sum(data)
	s.files[d] = data
	if err := os.WriteFile(filepath.Join(s.dir, d.String()), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// cachedServer is a server whose caches hold a snapshot with pool files
// looked up already (in the file cache or only in the store) and a suite.
func cachedServer(t testing.TB) (*Server, *snapView) {
	t.Helper()
	store := fakeStore{dir: t.TempDir(), files: map[blob.Digest][]byte{}}
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
		d := store.add(t, f.data)
		s.answers.put(v, f.path, catalog.PoolFile{PoolEntry: catalog.PoolEntry{SHA256: d, Size: int64(len(f.data))}})
		if !strings.Contains(f.path, "stored") {
			s.files.put(d, f.data)
		}
	}
	su := catalog.Suite{Name: "bookworm/updates", InRelease: []byte("-----BEGIN PGP SIGNED MESSAGE-----\n"), Release: []byte("Origin: Debian\n"),
		ReleaseGPG: []byte("-----BEGIN PGP SIGNATURE-----\n"), Signed: time.Date(2026, 12, 1, 5, 15, 0, 0, time.UTC)}
	for p, data := range map[string][]byte{
		"main/binary-amd64/Packages.xz": bytes.Repeat([]byte("xz"), smallFile),
		"main/binary-amd64/Packages.gz": []byte("gz"),
		"main/i18n/Translation-en":      []byte("Package: hello\n"),
	} {
		su.Files = append(su.Files, catalog.IndexFile{Path: p, SHA256: store.add(t, data), Size: int64(len(data))})
	}
	su.Files = append(su.Files, catalog.IndexFile{Path: "main/binary-amd64/Packages", SHA256: blob.Sum([]byte("plain")), Size: 5})
	sv := &suiteView{su: su, files: map[string]catalog.IndexFile{}}
	for _, f := range su.Files {
		sv.files[f.Path] = f
	}
	v.suites[su.Name] = sv
	v.suites["bookworm"] = &suiteView{files: map[string]catalog.IndexFile{}} // a shorter name, to be passed over
	return s, v
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)

// TestAppendAnswer: what AppendAnswer answers is, byte for byte but the
// Date, what net/http answers through ServeHTTP; what is not a stored
// file of a snapshot it leaves to ServeHTTP.
func TestAppendAnswer(t *testing.T) {
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
	const snap = "/debian/2026120101/"
	for _, method := range []string{"GET", "HEAD"} {
		for _, target := range []string{
			snap + "pool/main/h/hello/hello_1_amd64.deb",
			snap + "pool/main/h/hello/hello_1.tar.xz.unknown",
			snap + "pool/main/s/stored/stored_1_all.deb",
			snap + "pool/main/b/big/big_1_amd64.deb",
			snap + "dists/bookworm/updates/main/binary-amd64/Packages.xz",
			snap + "dists/bookworm/updates/main/binary-amd64/Packages.gz",
			snap + "dists/bookworm/updates/main/i18n/Translation-en",
			snap + "dists/bookworm/updates/InRelease",
			snap + "dists/bookworm/updates/Release",
			snap + "dists/bookworm/updates/Release.gpg",
		} {
			a, ok := s.AppendAnswer(context.Background(), []byte("x"), target, method == "HEAD", time.Now())
			if !ok || !bytes.HasPrefix(a.Head, []byte("x")) {
				t.Fatalf("%s %s: not answered", method, target)
			}
			out := a.Head[1:]
			if a.File != nil {
				if method == "GET" {
					body, _ := io.ReadAll(a.File)
					out = append(out, body...)
				}
				a.File.Close()
			}
			if want := bytes.Index(out, []byte("\r\n\r\n")) + 4; method == "GET" && int64(len(out)-want) != a.Size {
				t.Errorf("%s %s: body length %d reported, %d given", method, target, a.Size, len(out)-want)
			}
			got, want := canonical(method, out), viaNetHTTP(method, target)
			got, want = dateLine.ReplaceAll(got, []byte("Date: -\r")), dateLine.ReplaceAll(want, []byte("Date: -\r"))
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s:\n%.600s\nnet/http:\n%.600s", method, target, got, want)
			}
			if !bytes.Contains(out, []byte("\r\nDate: ")) {
				t.Errorf("%s %s: no Date", method, target)
			}
		}
	}
	for _, target := range []string{
		snap + "pool/main/h/hello/hello_2_amd64.deb",                   // not found
		"/debian/2026120102/pool/main/h/hello/hello_1_amd64.deb",       // no such snapshot
		snap + "dists/bookworm/updates/main/binary-amd64/Packages",     // decompressed for the client
		snap + "dists/bookworm/updates/main/binary-amd64/Packages.bz2", // not listed
		snap + "dists/bookworm/updates/main/binary-amd64/by-hash/SHA256/" + blob.Sum([]byte("gz")).String(),
		snap + "dists/bookworm/updates/",
		snap + "dists/stable/InRelease",
		snap + "project/trace/debian",
		snap + "pool/main/h/hello/hello_1_amd64.deb?",
		snap + "pool/main/h/hello/hello%5F1_amd64.deb",
		snap + "pool/main/h/hello/../hello/hello_1_amd64.deb",
		snap + "pool/main/h/hello//hello_1_amd64.deb",
		"/other/2026120101/pool/main/h/hello/hello_1_amd64.deb",
		"/debian/20261201T000000Z/pool/main/h/hello/hello_1_amd64.deb",
		"/tagged/t/debian/pool/main/h/hello/hello_1_amd64.deb",
		"debian/2026120101/pool/main/h/hello/hello_1_amd64.deb",
		snap + "pool/main/h/hello/hello_1_amd64.deb\x01",
		"/keys/aptsnap.asc",
		"/",
	} {
		if a, ok := s.AppendAnswer(context.Background(), nil, target, false, time.Now()); ok {
			t.Errorf("%q answered:\n%.300s", target, a.Head)
		}
	}
}

// BenchmarkAppendAnswer is the handler's share of an answer from memory.
func BenchmarkAppendAnswer(b *testing.B) {
	s, _ := cachedServer(b)
	buf := make([]byte, 0, 4096)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		a, _ := s.AppendAnswer(context.Background(), buf[:0], "/debian/2026120101/pool/main/h/hello/hello_1_amd64.deb", false, now)
		buf = a.Head
	}
}
