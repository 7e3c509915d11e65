package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/blobtest"
	"github.com/aptsnap/aptsnap/internal/s3test"
)

const testPartSize = minPartSize // 5 MiB: multipart tests stay small

// open returns a store in a fresh bucket, with options changed by opt.
func open(t *testing.T, opt func(*Options)) (*Store, s3test.Endpoint) {
	t.Helper()
	ep := s3test.Start(t)
	o := Options{Endpoint: ep.URL, Region: ep.Region, Bucket: ep.Bucket, Prefix: "aptsnap/blobs",
		AccessKey: ep.AccessKey, SecretKey: ep.SecretKey, PartSize: testPartSize}
	if opt != nil {
		opt(&o)
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s, ep
}

func TestConformance(t *testing.T) {
	s3test.Need(t)
	for _, prefix := range []string{"", "aptsnap/blobs/"} {
		t.Run(fmt.Sprintf("prefix=%q", prefix), func(t *testing.T) {
			blobtest.Run(t, func(t *testing.T) blob.Store {
				s, _ := open(t, func(o *Options) { o.Prefix = prefix })
				s.pageSize = 7 // listings of several pages
				return s
			})
		})
	}
}

// TestConformanceExternal runs the suite against the bucket
// APTSNAP_S3_ENDPOINT, APTSNAP_S3_BUCKET, APTSNAP_S3_ACCESS_KEY,
// APTSNAP_S3_SECRET_KEY and APTSNAP_S3_REGION name (scripts/start-s3's,
// or a real one): a fresh prefix per test, emptied after it.
func TestConformanceExternal(t *testing.T) {
	ep := os.Getenv("APTSNAP_S3_ENDPOINT")
	if ep == "" {
		t.Skip("APTSNAP_S3_ENDPOINT not set")
	}
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := Open(context.Background(), Options{Endpoint: ep, Bucket: os.Getenv("APTSNAP_S3_BUCKET"),
			Region: os.Getenv("APTSNAP_S3_REGION"), Prefix: fmt.Sprintf("aptsnap-test/%016x", rand.Uint64()),
			AccessKey: os.Getenv("APTSNAP_S3_ACCESS_KEY"), SecretKey: os.Getenv("APTSNAP_S3_SECRET_KEY")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx := context.Background()
			if err := s.CleanTemp(ctx, time.Now().Add(time.Hour)); err != nil {
				t.Error(err)
			}
			for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
				if oi.Err == nil {
					s.client.RemoveObject(ctx, s.bucket, oi.Key, minio.RemoveObjectOptions{})
				}
			}
		})
		return s
	})
}

// random returns n bytes of random data.
func random(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 42))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// count returns the number of stored files.
func count(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.Walk(context.Background(), func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// leftovers returns the temporary keys and incomplete uploads in s's bucket.
func leftovers(t *testing.T, s *Store) (tmp, uploads []string) {
	t.Helper()
	ctx := context.Background()
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.tmpPrefix(), Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		tmp = append(tmp, oi.Key)
	}
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		uploads = append(uploads, u.Key)
	}
	return tmp, uploads
}

func checkNoLeftovers(t *testing.T, s *Store) {
	t.Helper()
	if tmp, uploads := leftovers(t, s); len(tmp) != 0 || len(uploads) != 0 {
		t.Errorf("left behind: temporary keys %q, incomplete uploads to %q", tmp, uploads)
	}
}

// countingReader counts what it hands out.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestPutBounded: a Put given a size reads no more than size+1 bytes of a
// longer body, stores nothing and leaves nothing behind, whether the size
// fits in one part or not.
func TestPutBounded(t *testing.T) {
	s, _ := open(t, nil)
	big := int64(testPartSize + testPartSize/2) // two parts
	tests := []struct {
		name string
		body io.Reader
		want blob.Digest
		size int64
	}{
		{"small endless", endless{}, blob.Digest{}, 700},
		{"small endless checked", endless{}, blob.Sum([]byte("x")), 700},
		{"small longer", bytes.NewReader(random(2000)), blob.Digest{}, 1999},
		{"one part exactly, one byte more", bytes.NewReader(random(testPartSize + 1)), blob.Digest{}, testPartSize},
		{"large endless", endless{}, blob.Digest{}, big},
		{"large endless checked", endless{}, blob.Sum([]byte("x")), big},
		{"large longer", bytes.NewReader(random(int(3 * testPartSize))), blob.Digest{}, big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countingReader{r: tt.body}
			_, err := s.Put(context.Background(), r, tt.want, tt.size)
			if !errors.Is(err, blob.ErrMismatch) {
				t.Fatalf("Put = %v, want ErrMismatch", err)
			}
			if r.n > tt.size+1 {
				t.Errorf("Put read %d bytes of a body listed at %d", r.n, tt.size)
			}
			if n := count(t, s); n != 0 {
				t.Errorf("%d files stored", n)
			}
			checkNoLeftovers(t, s)
		})
	}
}

// TestPutLarge: files of several parts, with or without their digest or
// size, are stored whole under their digest, and nothing else is left.
func TestPutLarge(t *testing.T) {
	data := random(12 << 20) // three parts of 5 MiB
	tests := []struct {
		name    string
		want    blob.Digest
		size    int64
		compose bool // copy with ComposeObject (files over 5 GiB)
		wrong   bool // a digest or size that does not match
	}{
		{name: "checked", want: blob.Sum(data), size: int64(len(data))},
		{name: "checked any size", want: blob.Sum(data), size: -1},
		{name: "unchecked", size: -1},
		{name: "unchecked with size", size: int64(len(data))},
		{name: "unchecked composed", size: -1, compose: true},
		{name: "wrong digest", want: blob.Sum([]byte("x")), size: int64(len(data)), wrong: true},
		{name: "wrong size", size: int64(len(data)) + 1, wrong: true},
		{name: "truncated", want: blob.Sum(data), size: int64(len(data)) + 7<<20, wrong: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.compose {
				old := maxCopySize
				maxCopySize = 1 << 20
				t.Cleanup(func() { maxCopySize = old })
			}
			ctx := context.Background()
			s, _ := open(t, nil)
			info, err := s.Put(ctx, bytes.NewReader(data), tt.want, tt.size)
			if tt.wrong {
				if !errors.Is(err, blob.ErrMismatch) {
					t.Fatalf("Put = %+v, %v; want ErrMismatch", info, err)
				}
				if n := count(t, s); n != 0 {
					t.Errorf("%d files stored", n)
				}
				checkNoLeftovers(t, s)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Digest != blob.Sum(data) || info.Size != int64(len(data)) {
				t.Fatalf("Put = %+v", info)
			}
			got, err := s.ReadFile(ctx, info.Digest, nil)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
			var walked []blob.Info
			s.Walk(ctx, func(i blob.Info) error { walked = append(walked, i); return nil })
			if len(walked) != 1 || walked[0].Digest != info.Digest || walked[0].Size != info.Size ||
				time.Since(walked[0].ModTime).Abs() > time.Minute {
				t.Errorf("Walk saw %+v", walked)
			}
			checkNoLeftovers(t, s)
		})
	}
}

// TestConcurrentLargePuts: writers sending the same large file at once, a
// multipart upload each to the same key, all succeed.
func TestConcurrentLargePuts(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, nil)
	data := random(11 << 20)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			want := blob.Sum(data)
			if i == 2 {
				want = blob.Digest{} // through a temporary key
			}
			if _, err := s.Put(ctx, bytes.NewReader(data), want, int64(len(data))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := s.ReadFile(ctx, blob.Sum(data), nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	if n := count(t, s); n != 1 {
		t.Errorf("%d files stored", n)
	}
	checkNoLeftovers(t, s)
}

// cancelingReader cancels its context once it has handed out after bytes.
type cancelingReader struct {
	r      io.Reader
	cancel func()
	after  int64
	n      int64
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.n >= c.after {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// noAbort is a transport that fails a writer's requests to abort a
// multipart upload: as if it died before it could.
type noAbort struct{ aborts atomic.Int32 }

func (n *noAbort) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodDelete && req.URL.Query().Has("uploadId") {
		n.aborts.Add(1)
		// An error minio-go does not retry.
		return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: req,
			Header: http.Header{"Content-Type": {"application/xml"}},
			Body:   io.NopCloser(strings.NewReader(`<Error><Code>AccessDenied</Code><Message>writer died</Message></Error>`))}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestInterruptedPut: a Put of several parts whose context ends mid-way
// leaves nothing visible; if it could not abort its upload (it died),
// CleanTemp does, once the upload is older than its cutoff.
func TestInterruptedPut(t *testing.T) {
	data := random(12 << 20)
	for _, tt := range []struct {
		name string
		want blob.Digest
	}{
		{"checked", blob.Sum(data)},
		{"unchecked", blob.Digest{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, died := range []bool{false, true} {
				t.Run(fmt.Sprintf("died=%t", died), func(t *testing.T) {
					ctx := context.Background()
					tr := &noAbort{}
					s, _ := open(t, func(o *Options) {
						if died {
							o.HTTPClient = &http.Client{Transport: tr}
						}
					})
					pctx, cancel := context.WithCancel(ctx)
					defer cancel()
					r := &cancelingReader{r: bytes.NewReader(data), cancel: cancel, after: 7 << 20}
					_, err := s.Put(pctx, r, tt.want, int64(len(data)))
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("Put = %v, want context.Canceled", err)
					}
					if n := count(t, s); n != 0 {
						t.Fatalf("an interrupted Put left %d stored files", n)
					}
					if _, err := s.Stat(ctx, blob.Sum(data)); !errors.Is(err, blob.ErrNotFound) {
						t.Fatalf("Stat = %v, want ErrNotFound", err)
					}
					_, uploads := leftovers(t, s)
					if !died {
						if len(uploads) != 0 {
							t.Fatalf("the Put did not abort its upload: %q", uploads)
						}
						return
					}
					if len(uploads) != 1 || tr.aborts.Load() == 0 {
						t.Fatalf("incomplete uploads %q after %d aborts that failed: want the one", uploads, tr.aborts.Load())
					}
					// A writer that started it may still be running.
					if err := s.CleanTemp(ctx, time.Now().Add(-time.Hour)); err != nil {
						t.Fatal(err)
					}
					if _, uploads := leftovers(t, s); len(uploads) != 1 {
						t.Fatalf("CleanTemp removed an upload started after its cutoff: %q left", uploads)
					}
					clean, _ := open(t, nil)
					clean.bucket = s.bucket
					if err := clean.CleanTemp(ctx, time.Now().Add(time.Hour)); err != nil {
						t.Fatal(err)
					}
					checkNoLeftovers(t, s)
				})
			}
		})
	}
}

// refuse is a transport that refuses the second part of every multipart
// upload, as a server does that is out of space.
type refuse struct{}

func (refuse) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.URL.Query().Get("partNumber") == "2" {
		return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: req,
			Header: http.Header{"Content-Type": {"application/xml"}},
			Body:   io.NopCloser(strings.NewReader(`<Error><Code>AccessDenied</Code><Message>no space left</Message></Error>`))}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestPutFails: a Put of several parts that fails mid-way, its reader
// or the server, says why, stores nothing and aborts its upload.
func TestPutFails(t *testing.T) {
	data := random(12 << 20)
	tests := []struct {
		name      string
		body      io.Reader
		transport http.RoundTripper
		want      blob.Digest
		errText   string
	}{
		{"reader", io.MultiReader(bytes.NewReader(data[:7<<20]), iotest.ErrReader(errors.New("connection reset"))), nil, blob.Sum(data), "connection reset"},
		{"reader unchecked", io.MultiReader(bytes.NewReader(data[:7<<20]), iotest.ErrReader(errors.New("connection reset"))), nil, blob.Digest{}, "connection reset"},
		{"server", bytes.NewReader(data), refuse{}, blob.Sum(data), "no space left"},
		{"server unchecked", bytes.NewReader(data), refuse{}, blob.Digest{}, "no space left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := open(t, func(o *Options) {
				if tt.transport != nil {
					o.HTTPClient = &http.Client{Transport: tt.transport}
				}
			})
			_, err := s.Put(context.Background(), tt.body, tt.want, int64(len(data)))
			if err == nil || !strings.Contains(err.Error(), tt.errText) || errors.Is(err, context.Canceled) {
				t.Fatalf("Put = %v, want the error %q", err, tt.errText)
			}
			if n := count(t, s); n != 0 {
				t.Errorf("%d files stored", n)
			}
			checkNoLeftovers(t, s)
		})
	}
}

// TestCleanTemp: temporary keys and uploads older than the cutoff go,
// newer ones, stored files and keys outside the store stay.
func TestCleanTemp(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, nil)
	info, err := s.Put(ctx, strings.NewReader("stored"), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string) {
		t.Helper()
		if _, err := s.client.PutObject(ctx, s.bucket, key, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tmp, outside := s.tmpKey(), "elsewhere/tmp/x"
	put(tmp)
	put(outside)
	for _, key := range []string{s.tmpKey(), s.Key(blob.Sum([]byte("y"))), "elsewhere/y"} {
		if _, err := s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CleanTemp(ctx, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tmps, uploads := leftovers(t, s); len(tmps) != 1 || len(uploads) != 3 {
		t.Fatalf("CleanTemp removed what was newer than its cutoff: left %q, %q", tmps, uploads)
	}
	if err := s.CleanTemp(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tmps, uploads := leftovers(t, s); len(tmps) != 0 || len(uploads) != 1 || uploads[0] != "elsewhere/y" {
		t.Fatalf("after CleanTemp: %q, %q; want only the upload outside the store", tmps, uploads)
	}
	if _, err := s.Stat(ctx, info.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.StatObject(ctx, s.bucket, outside, minio.StatObjectOptions{}); err != nil {
		t.Fatalf("CleanTemp removed a key outside its prefix: %v", err)
	}
}

// TestWalkPages: Walk goes through every page of a listing, skips keys
// that are not the store's and stops when told.
func TestWalkPages(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, nil)
	s.pageSize = 7
	const files = 25
	want := map[blob.Digest]bool{}
	for i := range files {
		info, err := s.Put(ctx, strings.NewReader(fmt.Sprint("file ", i)), blob.Digest{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		want[info.Digest] = true
	}
	d := blob.Sum([]byte("foreign")).String()
	for _, key := range []string{
		s.prefix + "sha256/" + d[:2] + "/" + d + ".part", // not a digest
		s.prefix + "sha256/00/" + d,                      // in the wrong fan-out directory
		s.prefix + "sha256/" + d[:2] + "/" + strings.ToUpper(d),
		s.prefix + "other/" + d,
		"sha256/" + d[:2] + "/" + d, // outside the prefix
	} {
		if _, err := s.client.PutObject(ctx, s.bucket, key, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[blob.Digest]int{}
	if err := s.Walk(ctx, func(i blob.Info) error { seen[i.Digest]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != files {
		t.Errorf("Walk saw %d files, want %d", len(seen), files)
	}
	for d, n := range seen {
		if !want[d] || n != 1 {
			t.Errorf("Walk saw %s %d times", d, n)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.Walk(ctx, func(blob.Info) error {
		if n++; n == 10 { // on the second page
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("Walk = %v after %d calls", err, n)
	}
}

// countGets is a transport that counts GET requests.
type countGets struct{ n atomic.Int32 }

func (c *countGets) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestOpenSeek: the reader Open returns seeks and reads ranges, as
// serving a Range request does.
func TestOpenSeek(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, nil)
	data := random(1 << 20)
	info, err := s.Put(ctx, bytes.NewReader(data), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	tests := []struct {
		name   string
		offset int64
		whence int
		n      int   // bytes to read
		at     int64 // where they start; -1: Seek fails
	}{
		{"start", 0, io.SeekStart, 100, 0},
		{"middle", 500000, io.SeekStart, 4096, 500000},
		{"from end", -10, io.SeekEnd, 10, size - 10},
		{"at end", 0, io.SeekEnd, 0, size},
		{"past end", 10, io.SeekEnd, 0, size + 10},
		{"negative", -1, io.SeekStart, 0, -1},
		{"before start", -size - 1, io.SeekEnd, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, st, err := s.Open(ctx, info.Digest)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if st != (blob.Info{Digest: info.Digest, Size: size, ModTime: st.ModTime}) || st.ModTime.IsZero() {
				t.Errorf("Open info = %+v", st)
			}
			// Read a little first, so that the seek leaves a stream.
			if _, err := io.ReadFull(f, make([]byte, 10)); err != nil {
				t.Fatal(err)
			}
			pos, err := f.Seek(tt.offset, tt.whence)
			if tt.at < 0 {
				if err == nil {
					t.Fatalf("Seek = %d, want an error", pos)
				}
				return
			}
			if err != nil || pos != tt.at {
				t.Fatalf("Seek = %d, %v; want %d", pos, err, tt.at)
			}
			buf := make([]byte, tt.n)
			if _, err := io.ReadFull(f, buf); err != nil || !bytes.Equal(buf, data[min(tt.at, size):min(tt.at+int64(tt.n), size)]) {
				t.Fatalf("read %d bytes at %d: %v, or other bytes", tt.n, tt.at, err)
			}
			if tt.at+int64(tt.n) >= size {
				if n, err := f.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Errorf("read at the end = %d, %v; want EOF", n, err)
				}
			}
			// Back to the start, the rest of the file follows.
			if _, err := f.Seek(3, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if all, err := io.ReadAll(f); err != nil || !bytes.Equal(all, data[3:]) {
				t.Errorf("read from 3: %d bytes, %v", len(all), err)
			}
		})
	}
	f, _, err := s.Open(ctx, info.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
}

// TestServeContent: http.ServeContent over the reader Open returns, as
// serving uses it: whole files in one GET to the bucket, ranges,
// conditional requests.
func TestServeContent(t *testing.T) {
	ctx := context.Background()
	gets := &countGets{}
	s, _ := open(t, func(o *Options) { o.HTTPClient = &http.Client{Transport: gets} })
	data := random(300 << 10)
	info, err := s.Put(ctx, bytes.NewReader(data), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, st, err := s.Open(r.Context(), info.Digest)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", st.ModTime, f)
	}))
	defer srv.Close()
	mod := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		header map[string]string
		status int
		body   []byte
		gets   int32
	}{
		{"whole", nil, http.StatusOK, data, 1},
		{"range", map[string]string{"Range": "bytes=1000-1999"}, http.StatusPartialContent, data[1000:2000], 2},
		{"suffix", map[string]string{"Range": "bytes=-100"}, http.StatusPartialContent, data[len(data)-100:], 2},
		{"open range", map[string]string{"Range": "bytes=200000-"}, http.StatusPartialContent, data[200000:], 2},
		{"not modified", map[string]string{"If-Modified-Since": mod}, http.StatusNotModified, nil, 1},
		{"unsatisfiable", map[string]string{"Range": "bytes=400000-"}, http.StatusRequestedRangeNotSatisfiable, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			before := gets.n.Load()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != tt.status {
				t.Fatalf("status %d, %v; want %d", resp.StatusCode, err, tt.status)
			}
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Errorf("got %d bytes, not the %d expected", len(body), len(tt.body))
			}
			if n := gets.n.Load() - before; n != tt.gets {
				t.Errorf("%d GETs to the bucket, want %d", n, tt.gets)
			}
		})
	}
}

// TestPresign: a presigned URL serves the file to a client without
// credentials, ranges too, for its time.
func TestPresign(t *testing.T) {
	ctx := context.Background()
	s, ep := open(t, nil)
	data := random(100 << 10)
	info, err := s.Put(ctx, bytes.NewReader(data), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		d      blob.Digest
		ttl    time.Duration
		wait   time.Duration
		rng    string
		status int
		body   []byte
	}{
		{name: "whole", d: info.Digest, ttl: time.Minute, status: http.StatusOK, body: data},
		{name: "range", d: info.Digest, ttl: time.Minute, rng: "bytes=10-19", status: http.StatusPartialContent, body: data[10:20]},
		{name: "missing", d: blob.Sum([]byte("missing")), ttl: time.Minute, status: http.StatusNotFound},
		{name: "expired", d: info.Digest, ttl: time.Second, wait: 2100 * time.Millisecond, status: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := s.Presign(ctx, tt.d, tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(u.String(), ep.SecretKey) {
				t.Fatal("the presigned URL holds the secret key")
			}
			time.Sleep(tt.wait)
			req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || (tt.body != nil && !bytes.Equal(body, tt.body)) {
				t.Fatalf("GET presigned URL: %d, %d bytes; want %d, %d bytes", resp.StatusCode, len(body), tt.status, len(tt.body))
			}
		})
	}
}

// TestServerChecksSHA256: what Put relies on: the server refuses a body
// that does not hash to the SHA-256 its request is signed with.
func TestServerChecksSHA256(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, nil)
	d := blob.Sum([]byte("hello"))
	_, err := s.core.PutObject(ctx, s.bucket, s.Key(d), strings.NewReader("hellO"), 5, "", d.String(),
		minio.PutObjectOptions{DisableContentSha256: true})
	if err == nil {
		t.Fatal("the server took a body that does not match its signed SHA-256")
	}
	if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat = %v, want ErrNotFound", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		ep         string
		secure     bool
		host       string
		wantSecure bool
		err        bool
	}{
		{ep: "127.0.0.1:9000", host: "127.0.0.1:9000"},
		{ep: "s3.example.com", secure: true, host: "s3.example.com", wantSecure: true},
		{ep: "http://127.0.0.1:9000", secure: true, host: "127.0.0.1:9000"},
		{ep: "https://s3.example.com/", host: "s3.example.com", wantSecure: true},
		{ep: "", err: true},
		{ep: "ftp://s3.example.com", err: true},
		{ep: "https://s3.example.com/bucket", err: true},
		{ep: "https://AKIA:hunter2@s3.example.com", err: true},
		{ep: "AKIA:hunter2@s3.example.com", err: true},
		{ep: "https://s3.example.com:badport:hunter2", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.ep, func(t *testing.T) {
			host, secure, err := parseEndpoint(tt.ep, tt.secure)
			if tt.err {
				if err == nil {
					t.Fatalf("parseEndpoint = %q, want an error", host)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the credentials: %v", err)
				}
				return
			}
			if err != nil || host != tt.host || secure != tt.wantSecure {
				t.Errorf("parseEndpoint = %q, %t, %v; want %q, %t", host, secure, err, tt.host, tt.wantSecure)
			}
		})
	}
}

// TestOpenErrors: Open checks its options and the bucket, and no error
// nor log line shows the secret key.
func TestOpenErrors(t *testing.T) {
	ep := s3test.Start(t)
	ctx := context.Background()
	good := Options{Endpoint: ep.URL, Region: ep.Region, Bucket: ep.Bucket, AccessKey: ep.AccessKey, SecretKey: ep.SecretKey}
	tests := []struct {
		name string
		opt  func(*Options)
	}{
		{"wrong secret", func(o *Options) { o.SecretKey = "wrong-secret-key-0123456789" }},
		{"no such bucket", func(o *Options) { o.Bucket = "no-such-bucket" }},
		{"no bucket", func(o *Options) { o.Bucket = "" }},
		{"part too small", func(o *Options) { o.PartSize = 1 << 20 }},
		{"access key alone", func(o *Options) { o.SecretKey = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.opt(&o)
			_, err := Open(ctx, o)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, secret := range []string{ep.SecretKey, o.SecretKey} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the secret key: %v", err)
				}
			}
		})
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("open", "options", good)
	for _, s := range []string{fmt.Sprint(good), fmt.Sprintf("%+v", good), fmt.Sprintf("%#v", good), logged.String()} {
		if strings.Contains(s, ep.SecretKey) || !strings.Contains(s, ep.Bucket) {
			t.Errorf("options printed as %s", s)
		}
	}
}
