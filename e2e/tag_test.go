package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/manifest"
	"github.com/aptsnap/aptsnap/release"
)

func (e *env) tagAPT(t *testing.T, tag string) *apttest.APT {
	t.Helper()
	_, key := e.get("/keys/aptsnap.asc")
	a := apttest.New(t, "deb [signed-by=$ROOT/aptsnap.asc] "+e.srv.URL+"/tagged/"+tag+"/debian/ bookworm main\n"+
		"deb [signed-by=$ROOT/aptsnap.asc] "+e.srv.URL+"/tagged/"+tag+"/debian/ bookworm-updates main\n")
	a.WriteFile("aptsnap.asc", []byte(key))
	return a
}

// TestTags: a tagged snapshot serves the source snapshot's content without
// Valid-Until and survives GC after its source expired; one built from a
// manifest makes apt see only the manifest's packages; a manifest entry
// missing from the source is an error naming it; delete removes it.
func TestTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.pulseAt(time.Now().Add(-11 * 24 * time.Hour)) // expired
	e.up.write(1)
	e.mustPulse()

	if _, err := e.app.TagCreate(ctx, "6.1", map[string]string{"debian": src.Serial}, nil); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse([]byte(`
packages:
  binary:
    - {package: hello, version: 2.10-1, arch: amd64}
    - {package: tzdata, version: 2026a-0+deb12u1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.TagCreate(ctx, "image-42", map[string]string{"debian": src.Serial}, m); err != nil {
		t.Fatal(err)
	}
	bad, _ := manifest.Parse([]byte("packages:\n  binary:\n    - {package: hello, version: 9.9-9}\n  source:\n    - {package: nosuch, version: \"1.0\"}\n"))
	_, err = e.app.TagCreate(ctx, "broken", map[string]string{"debian": src.Serial}, bad)
	if err == nil || !strings.Contains(err.Error(), "binary hello=9.9-9") || !strings.Contains(err.Error(), "source nosuch=1.0") {
		t.Fatalf("tag from a manifest with missing entries: %v", err)
	}
	if _, err := e.app.TagCreate(ctx, "6.1", map[string]string{"debian": src.Serial}, nil); err == nil {
		t.Fatal("a second tag 6.1 was created")
	}
	tags, _ := e.app.Tags(ctx)
	if len(tags) != 2 {
		t.Fatalf("tags = %+v", tags)
	}

	// The source expires and is collected: the tags stay.
	e.ageStore(time.Hour)
	gc, err := e.app.GC(ctx, false)
	if err != nil || len(gc.Expired) != 1 || gc.Expired[0].Serial != src.Serial {
		t.Fatalf("gc: %+v %v", gc, err)
	}
	_, rel := e.get("/tagged/6.1/debian/dists/bookworm/Release")
	r, err := release.Parse([]byte(rel))
	if err != nil {
		t.Fatal(err)
	}
	if vu, _ := r.ValidUntil(); !vu.IsZero() || r.Get("Snapshots") != "" {
		t.Errorf("tagged Release has Valid-Until %s / Snapshots %q", vu, r.Get("Snapshots"))
	}
	a := e.tagAPT(t, "6.1")
	if out, err := a.Run("update"); err != nil {
		t.Fatalf("apt-get update of tag 6.1: %v\n%s", err, out)
	}
	for pkg, want := range map[string]string{"hello": "2.10-1", "libfoo1": "1.0-1", "docs-common": "3.0"} {
		if got := candidate(t, a, pkg); got != want {
			t.Errorf("tag 6.1: %s candidate %s, want %s", pkg, got, want)
		}
	}

	b := e.tagAPT(t, "image-42")
	if out, err := b.Run("update"); err != nil {
		t.Fatalf("apt-get update of tag image-42: %v\n%s", err, out)
	}
	if got := candidate(t, b, "hello"); got != "2.10-1" {
		t.Errorf("image-42: hello candidate %s", got)
	}
	for _, pkg := range []string{"libfoo1", "docs-common"} {
		out, _, _ := b.Exec("apt-cache", "policy", pkg)
		if strings.Contains(out, "Candidate: ") && !strings.Contains(out, "Candidate: (none)") {
			t.Errorf("image-42 offers %s, which the manifest does not list:\n%s", pkg, out)
		}
	}
	if out, err := b.Run("download", "hello", "tzdata"); err != nil {
		t.Fatalf("apt-get download from image-42: %v\n%s", err, out)
	}
	// The generated index ends every stanza with a blank line, sorted.
	_, pk := e.get("/tagged/image-42/debian/dists/bookworm/main/binary-amd64/Packages")
	if !strings.HasPrefix(pk, "Package: hello\n") || !strings.HasSuffix(pk, "\n\n") || strings.Count(pk, "Package: ") != 1 {
		t.Errorf("generated Packages:\n%q", pk)
	}
	if v, err := e.app.Verify(ctx, "", ""); err != nil || len(v.Problems) > 0 {
		t.Fatalf("verify: %v %v", v.Problems, err)
	}
	// verify looks at tagged snapshots too: a file only image-42 has, gone, is reported.
	_, pk2 := e.get("/tagged/image-42/debian/dists/bookworm/main/binary-amd64/Packages.xz")
	e.app.Store.Delete(ctx, blob.Sum([]byte(pk2)))
	if v, _ := e.app.Verify(ctx, "debian", ""); len(v.Problems) != 1 || v.Problems[0].Serial != "@image-42" {
		t.Errorf("verify after deleting a file of image-42: %+v", v.Problems)
	}

	if _, err := e.app.TagDelete(ctx, "image-42", false); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.get("/tagged/image-42/debian/dists/bookworm/InRelease"); code != 404 {
		t.Errorf("deleted tag answers %d", code)
	}
	if code, _ := e.get("/debian/@6.1/dists/bookworm/InRelease"); code != 404 {
		t.Errorf("a tag through the serial URL answers %d", code)
	}
	if _, err := e.app.TagDelete(ctx, "image-42", false); err == nil {
		t.Error("deleting a deleted tag succeeded")
	}
}
