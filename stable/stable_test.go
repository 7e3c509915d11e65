package stable

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/custom"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
)

// fixture is an installation with the series ours/stable, an uploader's
// key in its keyring, and actors.
type fixture struct {
	t        *testing.T
	env      *testenv.Env
	e        *Engine
	x        *custom.Archives
	uploader *pgp.Signer
}

var (
	author   = Actor{Name: "ann", Role: catalog.RoleReviewer}
	reviewer = Actor{Name: "rev", Role: catalog.RoleReviewer}
	manager  = Actor{Name: "mgr", Role: catalog.RoleReleaseManager}
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := testenv.New(t)
	up := testenv.Signer(t, "Uploader")
	keyring := filepath.Join(t.TempDir(), "keys.asc")
	os.WriteFile(keyring, up.PublicKey(), 0o644)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
public_url = "http://snap.example"
[[custom]]
name = "ours"
suites = ["stable", "stable-proposed", "stable-updates", "testing"]
architectures = ["amd64"]
keyring = %q
phase_step = 40
`, keyring)))
	if err != nil {
		t.Fatal(err)
	}
	x := custom.New(custom.Options{Archives: cfg.Customs, Catalog: env.Catalog, Store: env.Store, Publisher: env.Publisher,
		Locker: env.Locker, Now: env.Clock.Now, Log: env.Log, Events: env.Events})
	e := New(Options{Catalog: env.Catalog, Store: env.Store, Locker: env.Locker, Customs: cfg.Customs, Archives: x,
		TempDir: t.TempDir(), Now: env.Clock.Now, Log: env.Log})
	return &fixture{t: t, env: env, e: e, x: x, uploader: up}
}

// changes builds binary packages of source src at version and a .changes
// listing them, signed by signer; it returns the .changes's path.
func (f *fixture) changes(signer *pgp.Signer, src, version string, bins ...string) string {
	t := f.t
	dir := t.TempDir()
	var md, sha strings.Builder
	for _, b := range bins {
		data, err := repogen.BuildDeb(repogen.Package{Name: b, Version: version, Arch: "all", Source: src})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s_%s_all.deb", b, version)
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
		m, s := md5.Sum(data), sha256.Sum256(data)
		fmt.Fprintf(&md, " %s %d misc optional %s\n", hex.EncodeToString(m[:]), len(data), name)
		fmt.Fprintf(&sha, " %s %d %s\n", hex.EncodeToString(s[:]), len(data), name)
	}
	body := fmt.Sprintf("Format: 1.8\nDate: Mon, 30 Nov 2026 10:00:00 +0000\nSource: %s\nBinary: %s\nArchitecture: all\nVersion: %s\n"+
		"Distribution: stable\nMaintainer: RT <rt@example.invalid>\nDescription:\n x\nChanges:\n x\nChecksums-Sha256:\n%sFiles:\n%s",
		src, strings.Join(bins, " "), version, sha.String(), md.String())
	signed, err := signer.ClearSign([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("%s_%s_all.changes", src, version))
	os.WriteFile(p, signed, 0o644)
	return p
}

func (f *fixture) files(changes string) []string {
	files, err := custom.UploadFiles([]string{changes})
	if err != nil {
		f.t.Fatal(err)
	}
	return files
}

// submitted makes a request for foo 2.0, uploaded at 2.0-1, its sections
// written, submitted by author.
func (f *fixture) submitted() *Request {
	t, ctx := f.t, context.Background()
	r, err := f.e.New(ctx, author, NewRequest{Series: "ours/stable", Sources: []string{"foo"}, Version: "2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Upload(ctx, author, r.ID, f.files(f.changes(f.uploader, "foo", "2.0-1", "foo", "foo-doc"))); err != nil {
		t.Fatal(err)
	}
	text := "[Impact]\nx\n[Major Changes]\ny\n[Test Plan]\n$ true\n[Where problems could occur]\nUpgrades of foo.\n[Other Info]\n"
	if _, err := f.e.Edit(ctx, author, r.ID, "", text); err != nil {
		t.Fatal(err)
	}
	if r, err = f.e.Submit(ctx, author, r.ID); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRefusals(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		req  NewRequest
		want string
	}{
		{NewRequest{Series: "stable", Sources: []string{"foo"}, Version: "2.0"}, "give the series as ARCHIVE/SUITE"},
		{NewRequest{Series: "ours/testing", Sources: []string{"foo"}, Version: "2.0"}, "ours/testing is not a series"},
		{NewRequest{Series: "ours/stable-proposed", Sources: []string{"foo"}, Version: "2.0"}, "is not a series"},
		{NewRequest{Series: "theirs/stable", Sources: []string{"foo"}, Version: "2.0"}, `no custom archive "theirs"`},
		{NewRequest{Series: "ours/stable", Version: "2.0"}, "name from 1 to 32 source packages"},
		{NewRequest{Series: "ours/stable", Sources: []string{"Foo"}, Version: "2.0"}, `"Foo" is not a source package name`},
		{NewRequest{Series: "ours/stable", Sources: []string{"foo", "foo"}, Version: "2.0"}, "foo given twice"},
		{NewRequest{Series: "ours/stable", Sources: []string{"foo"}, Version: "2.0-1"}, "without epoch or Debian revision"},
		{NewRequest{Series: "ours/stable", Sources: []string{"foo"}, Version: "1:2.0"}, "without epoch or Debian revision"},
		{NewRequest{Series: "ours/stable", Sources: []string{"foo"}, Version: "2.0", Kind: "urgent"}, `not "urgent"`},
	} {
		_, err := f.e.New(context.Background(), author, tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", tc.req, err, tc.want)
		}
	}
	if rs, _ := f.e.List(context.Background(), "", ""); len(rs) != 0 {
		t.Errorf("refused requests were recorded: %d", len(rs))
	}
}

func TestTextRoundTrip(t *testing.T) {
	r := &Request{Sections: map[string]string{"Impact": "a\n\nb", "Major Changes": "", "Test Plan": "$ x",
		"Where problems could occur": "w", "Other Info": "o"}}
	got, err := ParseText(r.Text())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Sections {
		if got[s] != r.Sections[s] {
			t.Errorf("[%s] = %q, want %q", s, got[s], r.Sections[s])
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"hello\n[Impact]\n", "text before the first section"},
		{"[Impact]\na\n[impact]\nb\n", "[Impact] twice"},
		{"[Impact]\na\n", "section [Major Changes] is missing"},
	} {
		if _, err := ParseText(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseText(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestTrivialRisk(t *testing.T) {
	for text, want := range map[string]bool{"none": true, " Low. ": true, "LOW": true, "": true,
		"Low for most; high for sites using plugin X.": false, "none known, but the parser changed": false} {
		if got := trivialRisk(text); got != want {
			t.Errorf("trivialRisk(%q) = %v, want %v", text, got, want)
		}
	}
}

// TestTransitions: the order of the states, who may move them, and that a
// refused change leaves the request as it was.
func TestTransitions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r, err := f.e.New(ctx, author, NewRequest{Series: "ours/stable", Sources: []string{"foo", "bar"}, Version: "2.0"})
	if err != nil {
		t.Fatal(err)
	}
	// A draft may hold TODO; a submitted request may not get one back.
	if _, err := f.e.Edit(ctx, author, r.ID, "impact", "TODO later"); err != nil {
		t.Fatalf("editing a draft with a TODO: %v", err)
	}
	// Only its author withdraws a draft (or a reviewer who is not its author).
	if _, err := f.e.Reject(ctx, manager, r.ID, "mine now"); err == nil || !strings.Contains(err.Error(), "needs the role reviewer") {
		t.Errorf("a release manager rejecting another's draft: %v", err)
	}
	// Uploads: unsigned by a known key, out of the family, at the wrong
	// version: refused.
	stranger := testenv.Signer(t, "Stranger")
	for _, tc := range []struct {
		changes, want string
	}{
		{f.changes(stranger, "foo", "2.0-1", "foo"), "signature"},
		{f.changes(f.uploader, "baz", "2.0-1", "baz"), "baz is not of the family (foo, bar)"},
		{f.changes(f.uploader, "foo", "2.1-1", "foo"), "foo 2.1-1 is not at the request's version 2.0"},
	} {
		if _, err := f.e.Upload(ctx, author, r.ID, f.files(tc.changes)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("upload %s: %v, want %q", filepath.Base(tc.changes), err, tc.want)
		}
	}
	if _, err := f.e.Upload(ctx, author, r.ID, f.files(f.changes(f.uploader, "foo", "2.0-1", "foo"))); err != nil {
		t.Fatal(err)
	}
	text := "[Impact]\nx\n[Major Changes]\ny\n[Test Plan]\n$ true\n[Where problems could occur]\nUpgrades of foo.\n[Other Info]\n"
	if _, err := f.e.Edit(ctx, author, r.ID, "", text); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Submit(ctx, author, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Edit(ctx, author, r.ID, "Other Info", "TODO"); err == nil || !strings.Contains(err.Error(), "[Other Info] would hold a TODO again") {
		t.Errorf("TODO brought back: %v", err)
	}
	before, _ := f.e.Get(ctx, r.ID)
	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		{"accept with a member missing", func() error { _, err := f.e.Accept(ctx, reviewer, r.ID); return err }, "bar has no upload"},
		{"accept by its author", func() error { _, err := f.e.Accept(ctx, author, r.ID); return err }, "ann wrote or submitted it"},
		{"accept by a release manager", func() error { _, err := f.e.Accept(ctx, manager, r.ID); return err }, "needs the role reviewer"},
		{"submit twice", func() error { _, err := f.e.Submit(ctx, author, r.ID); return err }, "it is submitted; only a draft is submitted"},
		{"verify before accepted", func() error { _, err := f.e.Verify(ctx, author, r.ID, Report{}); return err }, "it is submitted"},
		{"release before accepted", func() error { _, err := f.e.Release(ctx, reviewer, r.ID, -1); return err }, "it is submitted"},
		{"reject without a reason", func() error { _, err := f.e.Reject(ctx, reviewer, r.ID, " "); return err }, "say why"},
		{"phase before released", func() error { _, err := f.e.Phase(ctx, reviewer, r.ID, 50); return err }, "only a released request is phased"},
	} {
		if err := tc.do(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if after, _ := f.e.Get(ctx, r.ID); after.Revision != before.Revision {
		t.Errorf("refused changes saved the request: revision %d -> %d", before.Revision, after.Revision)
	}
}

// TestConcurrentTransitions: of accepts and rejects at once, one wins,
// and the archive sees one change.
func TestConcurrentTransitions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.submitted()
	snaps := func() int {
		s, _ := f.env.Catalog.Snapshots(ctx, "ours")
		return len(s)
	}
	n := snaps()
	var wg sync.WaitGroup
	var wins atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = f.e.Accept(ctx, reviewer, r.ID)
			} else {
				_, err = f.e.Reject(ctx, reviewer, r.ID, "no")
			}
			if err == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	got, _ := f.e.Get(ctx, r.ID)
	if wins.Load() != 1 || got.Busy != nil {
		t.Fatalf("%d transitions won (state %s, busy %v), want 1", wins.Load(), got.State, got.Busy)
	}
	if want := map[State]int{VerificationNeeded: 1, Rejected: 0}[got.State]; snaps()-n != want {
		t.Errorf("%s after one winner: %d snapshots made, want %d", got.State, snaps()-n, want)
	}
}

// TestInterruptedTransition: a change that died after claiming the
// request holds others off with a clear message, and running it again
// finishes it.
func TestInterruptedTransition(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.submitted()
	if err := f.e.claim(ctx, r, reviewer, "accept"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Reject(ctx, reviewer, r.ID, "no"); !errors.Is(err, errdefs.ErrExists) || !strings.Contains(err.Error(), "accept by rev is under way") {
		t.Errorf("reject while an accept is under way: %v", err)
	}
	got, err := f.e.Accept(ctx, reviewer, r.ID)
	if err != nil || got.State != VerificationNeeded || got.Busy != nil || got.ProposedSerial == "" {
		t.Fatalf("accept run again: %v, %+v", err, got)
	}
}

// TestVerifyReleasePhase: a report on other versions is refused; aging is
// counted on the engine's clock; the schedule raises phasing by the
// archive's phase_step up to 100, which drops the field.
func TestVerifyReleasePhase(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.submitted()
	if _, err := f.e.Accept(ctx, reviewer, r.ID); err != nil {
		t.Fatal(err)
	}
	pass := Check{Name: "install", Passed: true, Duration: time.Second}
	if _, err := f.e.Verify(ctx, author, r.ID, Report{Versions: map[string]string{"foo": "2.0-0"}, Checks: []Check{pass}}); err == nil ||
		!strings.Contains(err.Error(), "the report is on foo 2.0-0, but stable-proposed holds foo 2.0-1") {
		t.Errorf("a report on other versions: %v", err)
	}
	long := Check{Name: "log", Passed: true, Log: strings.Repeat("x", MaxLog+10)}
	r, err := f.e.Verify(ctx, author, r.ID, Report{Versions: map[string]string{"foo": "2.0-1"}, Checks: []Check{pass, long}})
	if err != nil || r.State != VerificationDone {
		t.Fatalf("verify: %v %v", err, r)
	}
	if l := r.Verifications[0].Checks[1].Log; len(l) > MaxLog+len("…") {
		t.Errorf("a log of %d bytes was kept", len(l))
	}
	f.env.Clock.Shift(7*24*time.Hour - time.Hour)
	if _, err := f.e.Release(ctx, reviewer, r.ID, -1); err == nil || !strings.Contains(err.Error(), "the series asks for 7 days") {
		t.Fatalf("release at 6 days 23 hours: %v", err)
	}
	f.env.Clock.Shift(time.Hour)
	if r, err = f.e.Release(ctx, reviewer, r.ID, -1); err != nil || r.Phase != 10 {
		t.Fatalf("release: %v, phase %d", err, r.Phase)
	}
	for _, want := range []int{10, 50, 90, 100, 100} {
		if r, _ = f.e.Get(ctx, r.ID); r.Phase != want {
			t.Fatalf("phase %d%%, want %d%%", r.Phase, want)
		}
		if err := f.e.PhaseDue(ctx); err != nil {
			t.Fatal(err)
		}
		// Not due yet: nothing moves.
		if again, _ := f.e.Get(ctx, r.ID); again.Phase != r.Phase {
			t.Fatalf("PhaseDue before phase_every moved %d%% to %d%%", r.Phase, again.Phase)
		}
		f.env.Clock.Shift(6 * time.Hour)
		if err := f.e.PhaseDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	es, err := f.x.List(ctx, "ours", "stable-updates")
	if err != nil || len(es) != 2 {
		t.Fatalf("stable-updates: %v, %v", es, err)
	}
	for _, en := range es {
		if strings.Contains(string(en.Raw), custom.PhaseField) {
			t.Errorf("%s still phased at 100%%:\n%s", en, en.Raw)
		}
	}
}

// TestRejectRemovesFromProposed: a rejected request takes what it put into
// S-proposed out, and its stored uploads are no longer held for GC.
func TestRejectRemovesFromProposed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.submitted()
	if len(r.held()) == 0 {
		t.Fatal("a submitted request's uploads are not held")
	}
	if _, err := f.e.Accept(ctx, reviewer, r.ID); err != nil {
		t.Fatal(err)
	}
	if es, _ := f.x.List(ctx, "ours", "stable-proposed"); len(es) != 2 {
		t.Fatalf("stable-proposed after accept: %v", es)
	}
	r, err := f.e.Reject(ctx, reviewer, r.ID, "regression found")
	if err != nil || r.State != Rejected || !strings.Contains(r.History[len(r.History)-1].Note, "regression found; removed from stable-proposed in ") {
		t.Fatalf("reject: %v %+v", err, r.History[len(r.History)-1])
	}
	if es, _ := f.x.List(ctx, "ours", "stable-proposed"); len(es) != 0 {
		t.Errorf("stable-proposed after reject: %v", es)
	}
	if cr, _ := f.env.Catalog.Request(ctx, r.ID); len(cr.Files) != 0 {
		t.Errorf("a rejected request still holds %d files", len(cr.Files))
	}
}

// TestSubmitFeatureNeedsMajorChanges: a new-features update says what
// changes; a bug-fix one may leave [Major Changes] empty.
func TestSubmitFeatureNeedsMajorChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	text := "[Impact]\nx\n[Major Changes]\n\n[Test Plan]\n$ true\n[Where problems could occur]\nUpgrades of foo.\n[Other Info]\n"
	for kind, want := range map[string]string{Feature: "a new-features update must say what changes in [Major Changes]", BugFix: ""} {
		r, err := f.e.New(ctx, author, NewRequest{Series: "ours/stable", Sources: []string{"foo"}, Version: "2.0", Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.Edit(ctx, author, r.ID, "", text); err != nil {
			t.Fatal(err)
		}
		_, err = f.e.Submit(ctx, author, r.ID)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("submit of a %s update with no [Major Changes]: %v, want %q", kind, err, want)
		}
	}
}
