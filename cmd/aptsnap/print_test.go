package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/catalog"
)

func TestPrint(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	snap := api.Snapshot{Archive: "debian", Serial: "2026112301", Created: t0, ValidUntil: t0.AddDate(0, 0, 10), Suites: []string{"bookworm", "bookworm-updates"}}
	for _, tc := range []struct {
		name    string
		print   func(w *bytes.Buffer) error
		want    string
		wantErr string
	}{
		{"snapshots", func(w *bytes.Buffer) error {
			other := snap
			other.Archive, other.Serial, other.Suites = "debian-security", "2026112312", []string{"bookworm-security"}
			other.Created = other.Created.In(paris) // as decoded from a server elsewhere: printed in UTC all the same
			return printSnapshots(w, []api.Snapshot{snap, other})
		}, "" +
			"ARCHIVE          SERIAL      CREATED               VALID UNTIL           SUITES\n" +
			"debian           2026112301  2026-11-23T18:00:00Z  2026-12-03T18:00:00Z  bookworm,bookworm-updates\n" +
			"debian-security  2026112312  2026-11-23T18:00:00Z  2026-12-03T18:00:00Z  bookworm-security\n", ""},
		{"stale", func(w *bytes.Buffer) error {
			s := snap
			s.Stale = true
			return printSnapshots(w, []api.Snapshot{s})
		}, "" +
			"ARCHIVE  SERIAL      CREATED               VALID UNTIL                                                SUITES\n" +
			"debian   2026112301  2026-11-23T18:00:00Z  2026-12-03T18:00:00Z (stale: expired, kept as the newest)  bookworm,bookworm-updates\n", ""},
		{"no snapshots", func(w *bytes.Buffer) error { return printSnapshots(w, nil) },
			"ARCHIVE  SERIAL  CREATED  VALID UNTIL  SUITES\n", ""},
		{"bump", func(w *bytes.Buffer) error {
			s := snap
			s.ValidUntil = t0.AddDate(0, 0, 30).In(paris)
			printBump(w, api.BumpResult{Snapshot: s, Previous: snap.ValidUntil})
			return nil
		}, "debian 2026112301 valid until 2026-12-23T18:00:00Z (was 2026-12-03T18:00:00Z)\n", ""},
		{"gc", func(w *bytes.Buffer) error {
			printGC(w, api.GCResult{Expired: []api.Snapshot{snap}, Files: 12, Bytes: 3_400_000, Kept: 30, CatalogSeconds: 0.1334, SweepSeconds: 1.5})
			return nil
		}, "expired debian 2026112301\ngc: 1 snapshot(s), 12 file(s), 3.4 MB deleted, 30 kept (catalog 133ms, sweep 1.5s)\n", ""},
		{"gc in the background", func(w *bytes.Buffer) error {
			printGC(w, api.GCResult{Expired: []api.Snapshot{snap}, Background: true, CatalogSeconds: 0.05})
			return nil
		}, "expired debian 2026112301\ngc: 1 snapshot(s) collected (catalog 50ms); the server sweeps their files in the background\n", ""},
		{"gc dry run", func(w *bytes.Buffer) error {
			printGC(w, api.GCResult{DryRun: true, Expired: []api.Snapshot{snap, snap}, Files: 2, Bytes: 999, Kept: 1})
			return nil
		}, "expired debian 2026112301\nexpired debian 2026112301\ngc: 2 snapshot(s), 2 file(s), 999 B would be deleted, 1 kept\n", ""},
		{"gc nothing", func(w *bytes.Buffer) error { printGC(w, api.GCResult{Kept: 5}); return nil },
			"gc: 0 snapshot(s), 0 file(s), 0 B deleted, 5 kept (catalog 0s, sweep 0s)\n", ""},
		{"untrack", func(w *bytes.Buffer) error {
			printUntrack(w, api.UntrackResult{Archive: "debian", Suites: []string{"bookworm-updates"}, Snapshots: 4})
			return nil
		}, "untracked bookworm-updates from debian (4 snapshots)\n", ""},
		{"verify ok", func(w *bytes.Buffer) error {
			return printVerify(w, api.VerifyResult{Snapshots: 2, Files: 40, Bytes: 3 << 20, Signatures: 8})
		}, "verify: 2 snapshot(s), 40 file(s) (3.1 MB), 8 signature(s) checked: ok\n", ""},
		{"verify problems", func(w *bytes.Buffer) error {
			return printVerify(w, api.VerifyResult{Problems: []api.Problem{{Archive: "debian", Serial: "2026112301", What: "pool/main/h/hello.deb: missing"},
				{Archive: "debian", Serial: "2026112302", What: "bookworm: InRelease: bad signature"}}, Snapshots: 2, Files: 40, Bytes: 3 << 20, Signatures: 8})
		}, "debian/2026112301: pool/main/h/hello.deb: missing\ndebian/2026112302: bookworm: InRelease: bad signature\n", "verify: 2 problem(s) in 2 snapshot(s), 40 file(s) (3.1 MB), 8 signature(s)"},
		{"tokens", func(w *bytes.Buffer) error {
			return printTokens(w, []api.Token{{Name: "ci", Role: catalog.RoleReleaseManager, Created: t0}, {Name: "root", Role: catalog.RoleAdmin, Created: t0.In(paris)}})
		}, "NAME  ROLE             CREATED\nci    release-manager  2026-11-23T18:00:00Z\nroot  admin            2026-11-23T18:00:00Z\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			err := tc.print(&w)
			if got := w.String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestPrintNewToken(t *testing.T) {
	var out, note bytes.Buffer
	printNewToken(&out, &note, api.NewToken{Secret: "aptsnap_abc", Token: api.Token{Name: "ci", Role: catalog.RoleAdmin}})
	if out.String() != "aptsnap_abc\n" {
		t.Errorf("stdout %q: want the secret alone", out.String())
	}
	if !strings.Contains(note.String(), "only time") || strings.Contains(note.String(), "aptsnap_abc") {
		t.Errorf("note %q", note.String())
	}
}
