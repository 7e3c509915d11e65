package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func (f *fakeOps) Archives(context.Context) ([]Archive, error) {
	return []Archive{{Name: "debian", Kind: "mirror"}, {Name: "ours", Kind: "custom"}}, nil
}

func (f *fakeOps) Latest(_ context.Context, archive string) (string, error) {
	return "2026112302", nil
}

func (f *fakeOps) RepoAdd(_ context.Context, req AddRequest) (RepoResult, error) {
	if f.onAdd != nil {
		f.onAdd(req)
	}
	var names []string
	for _, p := range req.Files {
		data, err := os.ReadFile(p)
		if err != nil {
			return RepoResult{}, err
		}
		names = append(names, filepath.Base(p)+"="+string(data))
	}
	f.record("repo add %s %s %s %s", req.Archive, req.Suite, req.Component, strings.Join(names, ","))
	return RepoResult{Archive: req.Archive, Suite: req.Suite, Serial: "2026112303"}, nil
}

func (f *fakeOps) RepoRemove(_ context.Context, archive, suite string, packages []string) (RepoResult, error) {
	f.record("repo remove %s %s %v", archive, suite, packages)
	return RepoResult{Archive: archive, Suite: suite, Serial: "2026112303"}, nil
}

func (f *fakeOps) RepoCopy(_ context.Context, req CopyRequest) (RepoResult, error) {
	f.record("repo copy %s %s from %s/%s %s=%s", req.Archive, req.Suite, req.FromArchive, req.FromSerial, req.Package, req.Version)
	return RepoResult{Archive: req.Archive, Suite: req.Suite, Serial: "2026112303"}, nil
}

func (f *fakeOps) RepoPublish(_ context.Context, archive string) (RepoResult, error) {
	f.record("repo publish %s", archive)
	return RepoResult{Archive: archive, Serial: "2026112304"}, nil
}

func (f *fakeOps) RepoList(_ context.Context, archive, suite string) ([]Package, error) {
	return []Package{{Package: "hello", Version: "1.0", Arch: "amd64", Kind: "deb", Component: "main"}}, nil
}

// TestUploadTooLarge: an upload over the limit answers 413 and reaches
// nothing; the client sees ErrTooLarge.
func TestUploadTooLarge(t *testing.T) {
	f := newFixture(t)
	s := &server{ops: f.ops, tokens: LocalTokens{f.cat}, auth: f.cat, log: slog.New(slog.NewTextHandler(io.Discard, nil)), maxUpload: 1000}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	dir := t.TempDir()
	small, big := filepath.Join(dir, "small.deb"), filepath.Join(dir, "big.deb")
	os.WriteFile(small, []byte("DEB"), 0o644)
	os.WriteFile(big, bytes.Repeat([]byte("x"), 5000), 0o644)
	c := &Client{BaseURL: srv.URL, Token: f.manager}
	if _, err := c.RepoAdd(context.Background(), AddRequest{Archive: "ours", Suite: "stable", Files: []string{small}}); err != nil {
		t.Fatalf("small upload: %v", err)
	}
	_, err := c.RepoAdd(context.Background(), AddRequest{Archive: "ours", Suite: "stable", Files: []string{big}})
	var apiErr *Error
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("big upload: %v, want 413", err)
	}
	if calls := f.ops.called(); len(calls) != 1 {
		t.Errorf("calls %q: the big upload reached Ops", calls)
	}
}

// TestRequestBodies: a JSON endpoint reads no more than 1 MiB whatever
// the Content-Type says, an upload holds at most MaxUploadFiles files and
// is spooled where the server says, names are bounded, and no answer
// quotes more than a kilobyte of what it was sent.
func TestRequestBodies(t *testing.T) {
	f := newFixture(t)
	uploads := t.TempDir()
	f.h = NewServer(ServerOptions{Ops: f.ops, Tokens: f.cat, Log: slog.New(slog.DiscardHandler), UploadDir: uploads})
	huge := `{"name":"` + strings.Repeat("x", 3<<20) + `","role":"admin"}`
	for _, ctype := range []string{"application/json", "multipart/form-data; boundary=x"} {
		req := httptest.NewRequest("POST", "/api/v1/tokens", strings.NewReader(huge))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+f.admin)
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		if w.Code != http.StatusBadRequest || w.Body.Len() > 2<<10 {
			t.Errorf("a 3 MiB JSON body sent as %s: %d with %d bytes of answer", ctype, w.Code, w.Body.Len())
		}
	}
	long := strings.Repeat("n", MaxTokenName+1)
	if w := f.do("POST", "/api/v1/tokens", `{"name":"`+long+`","role":"admin"}`, f.admin, ""); w.Code != http.StatusBadRequest {
		t.Errorf("a token name of %d characters: %d", len(long), w.Code)
	}

	// An upload of too many files reaches nothing; a good one is spooled
	// under UploadDir and gone after.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := range MaxUploadFiles + 1 {
		part, _ := mw.CreateFormFile("file", fmt.Sprintf("f%d.deb", i))
		part.Write([]byte("x"))
	}
	mw.Close()
	req := httptest.NewRequest("POST", "/api/v1/archives/ours/suites/stable/packages", &body)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Authorization", "Bearer "+f.manager)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest || len(f.ops.called()) != 0 {
		t.Errorf("an upload of %d files: %d, calls %q", MaxUploadFiles+1, w.Code, f.ops.called())
	}
	spooled := ""
	f.ops.onAdd = func(req AddRequest) { spooled = req.Files[0] }
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	p := filepath.Join(t.TempDir(), "one.deb")
	os.WriteFile(p, []byte("DEB"), 0o644)
	if _, err := (&Client{BaseURL: srv.URL, Token: f.manager}).RepoAdd(context.Background(), AddRequest{Archive: "ours", Suite: "stable", Files: []string{p}}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(spooled, uploads+string(filepath.Separator)) {
		t.Errorf("the upload was spooled at %s, not under %s", spooled, uploads)
	}
	if left, _ := os.ReadDir(uploads); len(left) != 0 {
		t.Errorf("%d spool directories left after the upload", len(left))
	}
}

// badFile is a spool file on a failing disk: its writes fail once it
// holds room bytes, its Close with closeErr.
type badFile struct {
	path     string
	room     int
	writeErr error
	closeErr error
}

func (b *badFile) Write(p []byte) (int, error) {
	if len(p) > b.room {
		n := b.room
		b.room = 0
		return n, &fs.PathError{Op: "write", Path: b.path, Err: b.writeErr}
	}
	b.room -= len(p)
	return len(p), nil
}

func (b *badFile) Close() error { return b.closeErr }

// uploadBody is a multipart upload of component main and files, given as
// name and content.
func uploadBody(files ...string) (body, ctype string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("component", "main")
	for i := 0; i+1 < len(files); i += 2 {
		part, _ := mw.CreateFormFile("file", files[i])
		part.Write([]byte(files[i+1]))
	}
	mw.Close()
	return buf.String(), mw.FormDataContentType()
}

// TestUploadSpoolErrors: an upload the client sent wrong is its error
// (400, 413), one the server cannot store is the server's (500, logged),
// and neither reaches Ops.
func TestUploadSpoolErrors(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	good, goodType := uploadBody("a.deb", big)
	twice, twiceType := uploadBody("a.deb", "DEB", "a.deb", "DEB")
	for _, tc := range []struct {
		name  string
		body  string
		ctype string
		// create is the spool's createSpool (the real one if nil).
		create    func(path string) (io.WriteCloser, error)
		maxUpload int64
		want      int
		says      string // what the answer says
	}{
		{name: "stored", body: good, ctype: goodType, want: http.StatusOK, says: "2026112303"},
		{name: "disk full", body: good, ctype: goodType, want: http.StatusInternalServerError, says: "no space left on device",
			create: func(p string) (io.WriteCloser, error) {
				return &badFile{path: p, room: 1000, writeErr: syscall.ENOSPC}, nil
			}},
		{name: "disk broken", body: good, ctype: goodType, want: http.StatusInternalServerError, says: "input/output error",
			create: func(p string) (io.WriteCloser, error) { return &badFile{path: p, room: 0, writeErr: syscall.EIO}, nil }},
		{name: "close fails", body: good, ctype: goodType, want: http.StatusInternalServerError, says: "input/output error",
			create: func(p string) (io.WriteCloser, error) {
				return &badFile{path: p, room: len(big), closeErr: syscall.EIO}, nil
			}},
		{name: "cannot create", body: good, ctype: goodType, want: http.StatusInternalServerError, says: "permission denied",
			create: func(p string) (io.WriteCloser, error) {
				return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
			}},
		{name: "body cut short", body: good[:len(good)-100], ctype: goodType, want: http.StatusBadRequest, says: "upload a.deb"},
		{name: "file given twice", body: twice, ctype: twiceType, want: http.StatusBadRequest, says: "given twice"},
		{name: "over the limit", body: good, ctype: goodType, maxUpload: 1000, want: http.StatusRequestEntityTooLarge, says: "over 1000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var logs bytes.Buffer
			s := &server{ops: f.ops, tokens: LocalTokens{f.cat}, auth: f.cat, log: slog.New(slog.NewTextHandler(&logs, nil)),
				maxUpload: MaxUpload, uploadDir: t.TempDir(), createSpool: tc.create}
			if tc.maxUpload != 0 {
				s.maxUpload = tc.maxUpload
			}
			req := httptest.NewRequest("POST", "/api/v1/archives/ours/suites/stable/packages", strings.NewReader(tc.body))
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Authorization", "Bearer "+f.manager)
			req.Header.Set("Content-Type", tc.ctype)
			w := httptest.NewRecorder()
			s.routes().ServeHTTP(w, req)
			if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.says) {
				t.Fatalf("status %d: %s; want %d saying %q", w.Code, w.Body, tc.want, tc.says)
			}
			if tc.want == http.StatusOK {
				return
			}
			if calls := f.ops.called(); len(calls) != 0 {
				t.Errorf("a failed upload reached Ops: %q", calls)
			}
			if logged := strings.Contains(logs.String(), "level=ERROR"); logged != (tc.want == http.StatusInternalServerError) {
				t.Errorf("logged as an error: %v, want %v:\n%s", logged, !logged, logs.String())
			}
			if left, _ := os.ReadDir(s.uploadDir); len(left) != 0 {
				t.Errorf("%d spool directories left after the upload", len(left))
			}
		})
	}
}

// TestConcurrentUploads: uploads served at once (go test -race) do not
// share their handler's state.
func TestConcurrentUploads(t *testing.T) {
	f := newFixture(t)
	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body, ctype := uploadBody(fmt.Sprintf("f%d.deb", i), "DEB")
			req := httptest.NewRequest("POST", "/api/v1/archives/ours/suites/stable/packages", strings.NewReader(body))
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Authorization", "Bearer "+f.manager)
			req.Header.Set("Content-Type", ctype)
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, req)
			codes[i] = w.Code
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("upload %d: status %d", i, code)
		}
	}
	if calls := f.ops.called(); len(calls) != n {
		t.Errorf("%d imports for %d uploads: %q", len(calls), n, calls)
	}
}
