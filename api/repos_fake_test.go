package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
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
