package serve

import (
	"bytes"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		for _, w := range []*httptest.ResponseRecorder{want, got} {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("ETag", `"etag"`)
		}
		http.ServeContent(want, req(), "", mod, bytes.NewReader(data))
		serveSmall(got, req(), data, mod)
		if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || !maps.EqualFunc(got.Header(), want.Header(),
			func(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || a[0] == b[0]) }) {
			t.Errorf("%s %v: got %d %v %q, want %d %v %q", tc.method, tc.header, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	}
}
