package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/api"
)

// TestCustomSamePoolPathOtherContent: every suite of a custom archive
// shares one pool, so a package version already in one suite cannot come
// into another with other content (the file at its pool path would be
// two different files in one snapshot, and one suite's clients would get
// the other's). Refused by upload and by copy; nothing changes.
func TestCustomSamePoolPathOtherContent(t *testing.T) {
	e := newEnvWith(t, customConfig(""))
	ctx := context.Background()
	dir, other := t.TempDir(), t.TempDir()
	add := func(suite string, files ...string) (api.RepoResult, error) {
		return e.app.RepoAdd(ctx, api.AddRequest{Archive: "ours", Suite: suite, Files: files})
	}
	first := buildDeb(t, dir, "tool", "1.0", "amd64", "gzip", "first build\n")
	if _, err := add("stable", first); err != nil {
		t.Fatal(err)
	}
	before := e.latest("ours")

	// The same name and version, rebuilt, into testing.
	rebuilt := buildDeb(t, other, "tool", "1.0", "amd64", "gzip", "another build\n")
	if _, err := add("testing", rebuilt); !errors.Is(err, api.ErrExists) {
		t.Errorf("same version, other content, into another suite: err %v, want ErrExists", err)
	}
	if got := e.latest("ours"); got != before {
		t.Errorf("the refused upload made snapshot %s", got)
	}
	// The identical file into testing is fine (one pool file, two suites).
	if _, err := add("testing", first); err != nil {
		t.Errorf("the identical file into testing: %v", err)
	}
	// Copy from another archive (here the mirror) with a clashing path:
	// the mirror's hello 2.10-1 is at pool/main/h/hello/hello_2.10-1_amd64.deb.
	hello := buildDeb(t, other, "hello", "2.10-1", "amd64", "gzip", "our own hello\n")
	if _, err := add("stable", hello); err != nil {
		t.Fatal(err)
	}
	e.mustPulse()
	before = e.latest("ours")
	_, err := e.app.RepoCopy(ctx, api.CopyRequest{Archive: "ours", Suite: "testing", FromArchive: "debian", Package: "hello", Version: "2.10-1"})
	if !errors.Is(err, api.ErrExists) {
		t.Errorf("copy of another hello 2.10-1 into testing: err %v, want ErrExists", err)
	} else if !strings.Contains(err.Error(), "hello_2.10-1_amd64.deb") {
		t.Errorf("the refusal does not name the file: %v", err)
	}
	if got := e.latest("ours"); got != before {
		t.Errorf("the refused copy made snapshot %s", got)
	}
}
