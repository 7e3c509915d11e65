package verify_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/verify"
)

// snapshot publishes a snapshot of debian whose index lists one stored
// pool file, and returns it with the pool file's digest.
func snapshot(t *testing.T, e *testenv.Env) (catalog.Snapshot, blob.Digest) {
	t.Helper()
	ctx := context.Background()
	deb := []byte("a package")
	info, err := e.Store.Put(ctx, strings.NewReader(string(deb)), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := fmt.Sprintf("Package: hello\nVersion: 1\nArchitecture: all\nFilename: pool/main/h/hello/hello_1_all.deb\nSize: %d\nSHA256: %s\n\n", len(deb), info.Digest)
	files, idx, err := e.Publisher.WriteIndex(ctx, "main/binary-amd64/Packages", []byte(pkgs))
	if err != nil {
		t.Fatal(err)
	}
	fields, _ := release.Parse([]byte("Origin: Debian\nDate: Sat, 22 Nov 2026 08:14:46 UTC\n"))
	up, _ := e.Store.Put(ctx, strings.NewReader("upstream"), blob.Digest{}, -1)
	snaps, err := e.Publisher.Publish(ctx, publish.Snapshot{Archive: "debian", ValidDays: 10, URL: "http://x",
		Suites: []publish.Suite{{Name: "bookworm", Fields: fields, Upstream: up.Digest, Files: files, Indices: []publish.Index{idx}}}})
	if err != nil {
		t.Fatal(err)
	}
	return snaps[0], info.Digest
}

func run(t *testing.T, e *testenv.Env, archive, serial string) []string {
	t.Helper()
	rep, err := verify.New(verify.Options{Catalog: e.Catalog, Store: e.Store, Keyring: e.Signer.Keyring()}).Run(context.Background(), archive, serial)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Snapshots == 0 || rep.Files == 0 || rep.Bytes == 0 || rep.Signatures == 0 {
		t.Errorf("verify says it checked nothing: %+v", rep)
	}
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.Archive+" "+p.Serial+" "+p.What)
	}
	return out
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	snap, pool := snapshot(t, e)
	if probs := run(t, e, "", ""); len(probs) != 0 {
		t.Fatalf("a sound installation: %v", probs)
	}

	// A pool file gone, an index file changed on disk.
	if err := e.Store.Delete(ctx, pool); err != nil {
		t.Fatal(err)
	}
	su, _ := e.Catalog.Suite(ctx, snap.ID, "bookworm")
	if err := os.WriteFile(e.Store.Path(su.Files[1].SHA256), []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	probs := strings.Join(run(t, e, "debian", snap.Serial), "\n")
	for _, want := range []string{"pool file sha256 " + pool.String() + ": missing from the store", su.Files[1].Path + ": stored size 8"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}

	// Release files no longer signed by our key.
	other := testenv.Signer(t, "someone else")
	_, err := e.Catalog.UpdateReleases(ctx, "debian", snap.Serial, snap.ValidUntil, func(_ string, rel []byte) (catalog.SignedRelease, error) {
		in, _ := other.ClearSign(rel)
		det, _ := other.DetachSign(rel)
		return catalog.SignedRelease{Release: rel, InRelease: in, ReleaseGPG: det}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	probs = strings.Join(run(t, e, "debian", ""), "\n")
	for _, want := range []string{"bookworm: InRelease:", "bookworm: Release.gpg:"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}
	if _, err := verify.New(verify.Options{Catalog: e.Catalog, Store: e.Store, Keyring: e.Signer.Keyring()}).Run(ctx, "debian", "2001010101"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("verify of an unknown serial: %v", err)
	}
}
