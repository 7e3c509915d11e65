package serve

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
)

// TestServeSmallAsServeContent: the fast path for small files answers
// exactly what http.ServeContent answers, for plain and conditional
// requests alike.
func TestServeSmallAsServeContent(t *testing.T) {
	data := []byte("Package: hello\nVersion: 1\n")
	mod := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		method string
		header map[string]string
	}{
		{"GET", nil},
		{"HEAD", nil},
		{"GET", map[string]string{"Range": "bytes=2-5"}},
		{"GET", map[string]string{"If-None-Match": `"etag"`}},
		{"GET", map[string]string{"If-Modified-Since": mod.Format(http.TimeFormat)}},
		{"GET", map[string]string{"If-Modified-Since": mod.Add(-time.Hour).Format(http.TimeFormat)}},
	} {
		req := func() *http.Request {
			r := httptest.NewRequest(tc.method, "/x", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			return r
		}
		// Last-Modified formatted per answer, and given made already.
		for _, lastMod := range [][]string{nil, lastModified(mod)} {
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			for _, w := range []*httptest.ResponseRecorder{want, got} {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("ETag", `"etag"`)
			}
			http.ServeContent(want, req(), "", mod, bytes.NewReader(data))
			serveSmall(got, req(), small(data), mod, lastMod)
			if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || !maps.EqualFunc(got.Header(), want.Header(),
				func(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || a[0] == b[0]) }) {
				t.Errorf("%s %v: got %d %v %q, want %d %v %q", tc.method, tc.header, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
			}
		}
	}
}

// small is data as the file cache holds it.
func small(data []byte) *cachedFile { return newCachedFile(blob.Sum(data), data) }

// TestSharedHeaderValues: the header values answers share cannot be
// changed through one answer's header.
func TestSharedHeaderValues(t *testing.T) {
	f := small([]byte("x"))
	w := httptest.NewRecorder()
	w.Header()["Etag"] = f.etag
	w.Header().Add("Etag", `"other"`)
	if len(f.etag) != 1 || f.etag[0] != `"`+blob.Sum([]byte("x")).String()+`"` {
		t.Errorf("an Add to an answer changed the shared value: %q", f.etag)
	}
}

// TestEmptySuffixRange: "Range: bytes=-0" asks for no byte: 416 with the
// size, for small and large files alike, not 206 with an empty body.
func TestEmptySuffixRange(t *testing.T) {
	mod := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	for _, size := range []int{26, smallFile + 1} {
		data := bytes.Repeat([]byte("x"), size)
		for _, rng := range []string{"bytes=-0", "bytes=-000", "bytes=-0, -0"} {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Range", rng)
			if size <= smallFile {
				serveSmall(w, r, small(data), mod, nil)
			} else {
				serveContent(w, r, "", mod, bytes.NewReader(data))
			}
			if w.Code != http.StatusRequestedRangeNotSatisfiable || w.Header().Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
				t.Errorf("%d bytes, Range %s: %d, Content-Range %q", size, rng, w.Code, w.Header().Get("Content-Range"))
			}
		}
		for _, rng := range []string{"bytes=-1", "bytes=0-", "bytes=-0, 0-1"} {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Range", rng)
			serveContent(w, r, "", mod, bytes.NewReader(data))
			if w.Code != http.StatusPartialContent {
				t.Errorf("%d bytes, Range %s: %d, want 206", size, rng, w.Code)
			}
		}
	}
}
