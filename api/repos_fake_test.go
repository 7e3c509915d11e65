package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
