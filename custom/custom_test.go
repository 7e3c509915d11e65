package custom_test

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/custom"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/repogen"
)

// archives are the custom archives of a test installation: "ours", with
// suites stable and testing.
func archives(t *testing.T, e *testenv.Env) *custom.Archives {
	t.Helper()
	cfg, err := config.Parse([]byte(`
public_url = "http://snap.example"
[[custom]]
name = "ours"
suites = ["stable", "testing"]
architectures = ["amd64"]
`))
	if err != nil {
		t.Fatal(err)
	}
	return custom.New(custom.Options{Archives: cfg.Customs, Catalog: e.Catalog, Store: e.Store, Publisher: e.Publisher,
		Locker: e.Locker, Now: e.Clock.Now, Log: e.Log, Events: e.Events})
}

// deb writes a .deb built in Go and returns its path.
func deb(t *testing.T, dir, name, version, arch, content string) string {
	t.Helper()
	data, err := repogen.BuildDeb(repogen.Package{Name: name, Version: version, Arch: arch,
		Files: map[string][]byte{"usr/share/doc/" + name + "/README": []byte(content)}})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", name, version, arch))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// served returns the uncompressed Packages of a suite of a snapshot.
func served(t *testing.T, e *testenv.Env, archive, serial, suite string) string {
	t.Helper()
	ctx := context.Background()
	snap, err := e.Catalog.Snapshot(ctx, archive, serial)
	if err != nil {
		t.Fatal(err)
	}
	su, err := e.Catalog.Suite(ctx, snap.ID, suite)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]catalog.IndexFile{}
	for _, f := range su.Files {
		byPath[f.Path] = f
	}
	data, err := index.ReadSuite(ctx, e.Store, byPath, "main/binary-amd64/Packages", 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// names lists a change: +added -removed =unchanged.
func names(r custom.Result) string {
	var out []string
	for _, e := range r.Added {
		out = append(out, "+"+e.Package+"="+e.Version)
	}
	for _, e := range r.Removed {
		out = append(out, "-"+e.Package+"="+e.Version)
	}
	for _, e := range r.Unchanged {
		out = append(out, "="+e.Package+"="+e.Version)
	}
	return strings.Join(out, " ")
}

func TestAddRemoveCopy(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	x := archives(t, e)
	var created []string
	e.Events.OnCreated(func(_ context.Context, s catalog.Snapshot) { created = append(created, s.Serial) })
	dir := t.TempDir()
	hello := deb(t, dir, "hello", "2.10-1", "amd64", "one")

	res, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{hello}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Serial == "" || names(res) != "+hello=2.10-1" || res.Added[0].Component != "main" {
		t.Fatalf("add: %+v", res)
	}
	pkgs := served(t, e, "ours", res.Serial, "stable")
	if !strings.Contains(pkgs, "Package: hello\n") || !strings.Contains(pkgs, "Filename: pool/main/h/hello/hello_2.10-1_amd64.deb\n") {
		t.Errorf("stable's Packages:\n%s", pkgs)
	}
	if got := served(t, e, "ours", res.Serial, "testing"); got != "" {
		t.Errorf("testing's Packages is not empty:\n%s", got)
	}
	data, _ := os.ReadFile(hello)
	if _, err := e.Store.Stat(ctx, blob.Sum(data)); err != nil {
		t.Errorf("the .deb is not stored: %v", err)
	}
	snap, _ := e.Catalog.Snapshot(ctx, "ours", res.Serial)
	su, _ := e.Catalog.Suite(ctx, snap.ID, "stable")
	for _, want := range []string{"Origin: ours\n", "Suite: stable\n", "Acquire-By-Hash: yes\n", "Snapshots: http://snap.example/ours/@SNAPSHOTID@/\n",
		"Valid-Until: " + release.FormatTime(snap.ValidUntil) + "\n"} {
		if !strings.Contains(string(su.Release), want) {
			t.Errorf("Release lacks %q:\n%s", want, su.Release)
		}
	}

	// The same file again changes nothing; other content under the same
	// name and version is refused; so is a file that is no package.
	again, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{hello}})
	if err != nil || again.Serial != "" || names(again) != "=hello=2.10-1" {
		t.Errorf("the same upload again: %+v, %v", again, err)
	}
	other := deb(t, t.TempDir(), "hello", "2.10-1", "amd64", "two")
	if _, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{other}}); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("same version, other content: %v, want ErrExists", err)
	}
	bad := filepath.Join(dir, "broken_1.0_amd64.deb")
	os.WriteFile(bad, data[:len(data)/2], 0o644)
	if _, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{bad}}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a truncated .deb: %v, want ErrInvalid", err)
	}
	for _, req := range []custom.AddRequest{
		{Archive: "debian", Suite: "stable", Files: []string{hello}},
		{Archive: "ours", Suite: "sid", Files: []string{hello}},
	} {
		if _, err := x.Add(ctx, req); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("add to %s/%s: %v, want ErrNotFound", req.Archive, req.Suite, err)
		}
	}
	if _, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Component: "contrib", Files: []string{hello}}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("add to a component not configured: %v, want ErrInvalid", err)
	}
	if snaps, _ := e.Catalog.Snapshots(ctx, "ours"); len(snaps) != 1 {
		t.Fatalf("refused changes made snapshots: %+v", snaps)
	}

	// A newer version replaces the older (one version per package).
	newer := deb(t, dir, "hello", "2.10-2", "amd64", "three")
	res2, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{newer}})
	if err != nil || names(res2) != "+hello=2.10-2 -hello=2.10-1" {
		t.Fatalf("add newer: %+v, %v", res2, err)
	}
	cp, err := x.Copy(ctx, custom.CopyRequest{Archive: "ours", Suite: "testing", FromArchive: "ours", FromSuite: "stable", Package: "hello"})
	if err != nil || names(cp) != "+hello=2.10-2" {
		t.Fatalf("copy stable -> testing: %+v, %v", cp, err)
	}
	if got := served(t, e, "ours", cp.Serial, "testing"); !strings.Contains(got, "Version: 2.10-2\n") {
		t.Errorf("testing after the copy:\n%s", got)
	}
	rm, err := x.Remove(ctx, "ours", "stable", []string{"hello"})
	if err != nil || names(rm) != "-hello=2.10-2" {
		t.Fatalf("remove: %+v, %v", rm, err)
	}
	if got := served(t, e, "ours", rm.Serial, "stable"); got != "" {
		t.Errorf("stable after remove:\n%s", got)
	}
	if _, err := x.Remove(ctx, "ours", "stable", []string{"hello"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("remove of a package not there: %v", err)
	}
	list, err := x.List(ctx, "ours", "testing")
	if err != nil || len(list) != 1 || list[0].Version != "2.10-2" {
		t.Errorf("List = %+v, %v", list, err)
	}
	want := []string{res.Serial, res2.Serial, cp.Serial, rm.Serial}
	if !slices.Equal(created, want) {
		t.Errorf("created events %v, want %v", created, want)
	}
}

// TestCopyFromSnapshot: a freeze exception's copy from a mirrored
// snapshot brings the newest version across its suites, and refuses one
// whose file is no longer stored.
func TestCopyFromSnapshot(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	x := archives(t, e)
	dir := t.TempDir()
	fields, _ := release.Parse([]byte("Origin: Debian\nDate: Sat, 22 Nov 2026 08:14:46 UTC\n"))
	var suites []publish.Suite
	var stored []blob.Digest
	for _, s := range []struct{ suite, version string }{{"bookworm", "2.10-3"}, {"bookworm-updates", "2.10-3+deb12u1"}} {
		p := deb(t, dir, "hello", s.version, "amd64", s.version)
		data, _ := os.ReadFile(p)
		info, err := e.Store.Put(ctx, strings.NewReader(string(data)), blob.Digest{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, info.Digest)
		m, s1 := md5.Sum(data), sha1.Sum(data)
		stanza := fmt.Sprintf("Package: hello\nVersion: %s\nArchitecture: amd64\nMaintainer: X <x@example.org>\nDescription: hello\n"+
			"Filename: pool/main/h/hello/hello_%s_amd64.deb\nSize: %d\nMD5sum: %x\nSHA1: %x\nSHA256: %x\n\n",
			s.version, s.version, len(data), m, s1, sha256.Sum256(data))
		files, idx, err := e.Publisher.WriteIndex(ctx, "main/binary-amd64/Packages", []byte(stanza))
		if err != nil {
			t.Fatal(err)
		}
		suites = append(suites, publish.Suite{Name: s.suite, Fields: fields, Files: files, Indices: []publish.Index{idx}})
	}
	snaps, err := e.Publisher.Publish(ctx, publish.Snapshot{Archive: "debian", ValidDays: 10, URL: "http://x", Suites: suites})
	if err != nil {
		t.Fatal(err)
	}
	res, err := x.Copy(ctx, custom.CopyRequest{Archive: "ours", Suite: "stable", FromArchive: "debian", Package: "hello"})
	if err != nil || names(res) != "+hello=2.10-3+deb12u1" {
		t.Fatalf("copy from debian's newest snapshot: %+v, %v", res, err)
	}
	res, err = x.Copy(ctx, custom.CopyRequest{Archive: "ours", Suite: "testing", FromArchive: "debian", FromSerial: snaps[0].Serial,
		FromSuite: "bookworm", Package: "hello", Version: "2.10-3"})
	if err != nil || names(res) != "+hello=2.10-3" {
		t.Fatalf("copy of one version from one suite: %+v, %v", res, err)
	}
	if _, err := x.Copy(ctx, custom.CopyRequest{Archive: "ours", Suite: "stable", FromArchive: "debian", Package: "nope"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("copy of a package in no suite: %v", err)
	}
	e.Store.Delete(ctx, stored[0])
	_, err = x.Copy(ctx, custom.CopyRequest{Archive: "ours", Suite: "stable", FromArchive: "debian", FromSuite: "bookworm", Package: "hello"})
	if !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("copy of a package whose file is gone: %v, want blob.ErrNotFound", err)
	}
}

// TestPulse: the pulse of a custom archive re-signs its contents into a
// fresh snapshot, and is recorded and told as a pulse.
func TestPulse(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	x := archives(t, e)
	var pulses []events.Pulse
	e.Events.OnPulse(func(p events.Pulse) { pulses = append(pulses, p) })
	first, err := x.Pulse(ctx, "ours")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{deb(t, t.TempDir(), "tool", "1.0", "all", "x")}}); err != nil {
		t.Fatal(err)
	}
	second, err := x.Pulse(ctx, "ours")
	if err != nil || second.Serial <= first.Serial {
		t.Fatalf("second pulse %+v after %s: %v", second, first.Serial, err)
	}
	if got := served(t, e, "ours", second.Serial, "stable"); !strings.Contains(got, "Package: tool\n") {
		t.Errorf("the re-snapshot lost the archive's contents:\n%s", got)
	}
	if _, err := x.Pulse(ctx, "nothing"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("pulse of an unknown custom archive: %v", err)
	}
	rec, _ := e.Catalog.Pulses(ctx, "ours", 10)
	if len(rec) != 2 || !rec[0].OK || rec[0].Serial != second.Serial || len(pulses) != 3 || pulses[1].Reason != "" || pulses[2].Reason != "other" {
		t.Errorf("pulses recorded %+v, told %+v", rec, pulses)
	}
}

// TestConcurrentChanges: changes of one archive at once wait for each
// other; none is lost.
func TestConcurrentChanges(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	x := archives(t, e)
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		p := deb(t, dir, fmt.Sprintf("pkg%d", i), "1.0", "amd64", fmt.Sprint(i))
		wg.Go(func() {
			if _, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{p}}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := x.List(ctx, "ours", "stable")
	if err != nil || len(list) != 6 {
		t.Errorf("after 6 concurrent adds: %d packages, %v", len(list), err)
	}
}

// TestUploadFiles: a client sends what the .dsc and .changes it names list.
func TestUploadFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"hello_1.0.orig.tar.gz": "orig", "hello_1.0-1.debian.tar.xz": "debian"}
	var sums, list strings.Builder
	for _, n := range []string{"hello_1.0.orig.tar.gz", "hello_1.0-1.debian.tar.xz"} {
		os.WriteFile(filepath.Join(dir, n), []byte(files[n]), 0o644)
		fmt.Fprintf(&sums, "\n %x %d %s", sha256.Sum256([]byte(files[n])), len(files[n]), n)
		fmt.Fprintf(&list, "\n %x %d %s", md5.Sum([]byte(files[n])), len(files[n]), n)
	}
	dsc := filepath.Join(dir, "hello_1.0-1.dsc")
	os.WriteFile(dsc, []byte("Format: 3.0 (quilt)\nSource: hello\nBinary: hello\nArchitecture: any\nVersion: 1.0-1\n"+
		"Maintainer: X <x@example.org>\nChecksums-Sha256:"+sums.String()+"\nFiles:"+list.String()+"\n"), 0o644)
	got, err := custom.UploadFiles([]string{dsc})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{dsc, filepath.Join(dir, "hello_1.0.orig.tar.gz"), filepath.Join(dir, "hello_1.0-1.debian.tar.xz")}
	if !slices.Equal(got, want) {
		t.Errorf("UploadFiles = %v, want %v", got, want)
	}
}

// TestThousandUploadsADay: 1,000 uploads to one custom archive in one UTC
// day (a controlled clock, the scheduler's PublishDue every minute)
// succeed, each visible at once in the archive's working state; the
// day's serials keep the YYYYMMDDNN form, 99 at most; a freeze exception
// asking to be published is in the newest snapshot at once; and by the
// next day's first minute the newest snapshot holds every upload.
func TestThousandUploadsADay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testenv.New(t)
	x := archives(t, e)
	dir := t.TempDir()
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	e.Clock.Set(day)
	const uploads = 1000
	step := 86000 * time.Second / uploads
	var published, pending int
	lastPublish := day
	for i := range uploads {
		name := fmt.Sprintf("pkg%04d", i)
		p := deb(t, dir, name, "1.0", "all", name)
		res, err := x.Add(ctx, custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{p}})
		if err != nil {
			t.Fatalf("upload %d at %s: %v", i, e.Clock.Now().Format(time.TimeOnly), err)
		}
		if res.Pending {
			pending++
			// Within twenty minutes (a serial every 86400/75 s, the
			// scheduler every minute); the exception borrowed one more.
			limit := 1152 * time.Second
			if i > uploads/2 {
				limit *= 2
			}
			if !res.PublishBy.After(e.Clock.Now().Add(-time.Second)) || res.PublishBy.Sub(e.Clock.Now()) > limit {
				t.Fatalf("upload %d pending until %s at %s", i, res.PublishBy, e.Clock.Now())
			}
		} else {
			published++
		}
		list, err := x.List(ctx, "ours", "stable")
		if err != nil || len(list) != i+1 || list[i].Package != name {
			t.Fatalf("upload %d not visible in the working state: %d packages, %v", i, len(list), err)
		}
		if i == uploads/2 {
			// A freeze exception, published at once whatever the budget.
			res, err := x.Copy(ctx, custom.CopyRequest{Archive: "ours", Suite: "testing", FromArchive: "ours", FromSuite: "stable", Package: name, Publish: true})
			if err != nil || res.Serial == "" {
				t.Fatalf("exception: %+v, %v", res, err)
			}
			if got := served(t, e, "ours", res.Serial, "testing"); !strings.Contains(got, "Package: "+name+"\n") {
				t.Errorf("the exception is not in snapshot %s", res.Serial)
			}
		}
		// The scheduler, every minute.
		for now := e.Clock.Now(); now.Sub(lastPublish) >= time.Minute; lastPublish = lastPublish.Add(time.Minute) {
			if err := x.PublishDue(ctx); err != nil {
				t.Fatal(err)
			}
		}
		e.Clock.Shift(step)
	}
	snaps, err := e.Catalog.Snapshots(ctx, "ours")
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) > catalog.MaxSerialsPerDay {
		t.Errorf("%d snapshots on one day", len(snaps))
	}
	for i, s := range snaps {
		if want := fmt.Sprintf("20261202%02d", i+1); s.Serial != want {
			t.Errorf("snapshot %d: serial %s, want %s", i, s.Serial, want)
		}
	}
	t.Logf("1,000 uploads: %d published at once, %d waited; %d snapshots", published, pending, len(snaps))
	if pending == 0 || published < 24 {
		t.Errorf("published at once %d, waited %d: the budget did not work as designed", published, pending)
	}
	// The next day's first minute: everything is out.
	e.Clock.Set(day.Add(24*time.Hour + time.Minute))
	if err := x.PublishDue(ctx); err != nil {
		t.Fatal(err)
	}
	latest, err := e.Catalog.Latest(ctx, "ours")
	if err != nil || !strings.HasPrefix(latest.Serial, "20261203") {
		t.Fatalf("newest snapshot %+v, %v", latest, err)
	}
	if got := served(t, e, "ours", latest.Serial, "stable"); strings.Count(got, "Package: ") != uploads {
		t.Errorf("the newest snapshot holds %d packages, want %d", strings.Count(got, "Package: "), uploads)
	}
}
