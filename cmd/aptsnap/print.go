package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/progress"
)

// What the verbs print. Local and remote runs go through these same
// functions, so that their output is the same.

// stamp formats a time in UTC (times decoded from the API carry the
// server's zone, times read locally the machine's).
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func printSnapshots(w io.Writer, snaps []api.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARCHIVE\tSERIAL\tCREATED\tVALID UNTIL\tSUITES")
	for _, s := range snaps {
		until := stamp(s.ValidUntil)
		if s.Stale {
			until += " (stale: expired, kept as the newest)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Archive, s.Serial, stamp(s.Created), until, strings.Join(s.Suites, ","))
	}
	return tw.Flush()
}

func printBump(w io.Writer, r api.BumpResult) {
	fmt.Fprintf(w, "%s %s valid until %s (was %s)\n", r.Snapshot.Archive, r.Snapshot.Serial, stamp(r.Snapshot.ValidUntil), stamp(r.Previous))
}

func printGC(w io.Writer, r api.GCResult) {
	for _, s := range r.Expired {
		fmt.Fprintf(w, "expired %s %s\n", s.Archive, s.Serial)
	}
	if r.Background {
		fmt.Fprintf(w, "gc: %d snapshot(s) collected (catalog %s); the server sweeps their files in the background\n",
			len(r.Expired), secs(r.CatalogSeconds))
		return
	}
	if r.DryRun {
		fmt.Fprintf(w, "gc: %d snapshot(s), %d file(s), %s would be deleted, %d kept\n", len(r.Expired), r.Files, progress.Bytes(r.Bytes), r.Kept)
		return
	}
	fmt.Fprintf(w, "gc: %d snapshot(s), %d file(s), %s deleted, %d kept (catalog %s, sweep %s)\n", len(r.Expired), r.Files, progress.Bytes(r.Bytes), r.Kept,
		secs(r.CatalogSeconds), secs(r.SweepSeconds))
}

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

func printUntrack(w io.Writer, r api.UntrackResult) {
	verb := "untracked"
	if r.DryRun {
		verb = "would untrack"
	}
	fmt.Fprintf(w, "%s %s from %s (%d snapshots)\n", verb, strings.Join(r.Suites, ", "), r.Archive, r.Snapshots)
}

// printVerify prints what verify checked and found, and returns an error
// if it found anything.
func printVerify(w io.Writer, r api.VerifyResult) error {
	for _, p := range r.Problems {
		fmt.Fprintf(w, "%s/%s: %s\n", p.Archive, p.Serial, p.What)
	}
	checked := fmt.Sprintf("%d snapshot(s), %d file(s) (%s), %d signature(s)", r.Snapshots, r.Files, progress.Bytes(r.Bytes), r.Signatures)
	if len(r.Problems) > 0 {
		return fmt.Errorf("verify: %d problem(s) in %s", len(r.Problems), checked)
	}
	fmt.Fprintf(w, "verify: %s checked: ok\n", checked)
	return nil
}

// printNewToken prints the secret alone on w (so that scripts can capture
// it) and the note about it on note.
func printNewToken(w, note io.Writer, t api.NewToken) {
	fmt.Fprintln(w, t.Secret)
	fmt.Fprintf(note, "token %q (%s) created: this is the only time its secret is shown; aptsnap stores only its SHA-256\n", t.Name, t.Role)
}

func printTokens(w io.Writer, list []api.Token) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Role, stamp(t.Created))
	}
	return tw.Flush()
}

func printTags(w io.Writer, tags []api.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAG\tARCHIVE\tCREATED\tSUITES")
	for _, s := range tags {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.TrimPrefix(s.Serial, "@"), s.Archive, stamp(s.Created), strings.Join(s.Suites, ","))
	}
	return tw.Flush()
}
