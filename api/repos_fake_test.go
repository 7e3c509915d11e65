package api

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
