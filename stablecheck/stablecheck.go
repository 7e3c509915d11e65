// Package stablecheck verifies a stable update request where it runs (a
// verifier's machine, a CI runner), and writes the report the server
// records (see stable.Engine.Verify):
//
//   - an install check: the real apt-get, in a throwaway root with the
//     series' sources pinned to one snapshot, installs every binary of the
//     family at the version in S-proposed, and every reverse dependency
//     in S and S-updates that was installable before still is, together
//     with the family members it relates to;
//   - the commands the request's [Test Plan] lists (lines starting with
//     "$ "), run with sh in a scratch directory, with APTSNAP_PROPOSED_SOURCES
//     naming a sources file of S, S-updates and S-proposed.
//
// Installs are simulated (apt-get -s): nothing is unpacked, so no
// privilege is needed and the host is untouched; a test plan command that
// installs for real does so in its own throwaway system (a container, an
// autopkgtest testbed).
package stablecheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/stable"
)

// Options describe a verification.
type Options struct {
	Request *stable.Request
	// URL is where the request's archive is served, without serial
	// ("http://host/ours"); Serial the snapshot to verify against, which
	// must hold the versions in S-proposed.
	URL    string
	Serial string
	// Key is the archive's signing key (armored), Components the
	// archive's components.
	Key        []byte
	Components []string
	// Arch is the architecture to install (dpkg --print-architecture if
	// empty).
	Arch string
	// TestPlan runs the [Test Plan]'s "$ " lines.
	TestPlan bool
	// Timeout bounds each command (30 minutes if zero).
	Timeout time.Duration
	// Progress receives a line per check (none if nil).
	Progress io.Writer
}

// Run verifies, and returns the report. An error is a failure to verify
// at all (no apt-get, the server unreachable); a check that fails is a
// report with that check not passed.
func Run(ctx context.Context, o Options) (stable.Report, error) {
	r := o.Request
	rep := stable.Report{Versions: maps.Clone(r.Proposed), Binaries: map[string]string{}, Serials: map[string]string{}}
	if len(r.Proposed) == 0 {
		return rep, fmt.Errorf("update %d has nothing in %s-proposed to verify (it is %s)", r.ID, r.Series, r.State)
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Arch == "" {
		out, err := exec.CommandContext(ctx, "dpkg", "--print-architecture").Output()
		if err != nil {
			return rep, fmt.Errorf("dpkg --print-architecture: %w (give --arch)", err)
		}
		o.Arch = strings.TrimSpace(string(out))
	}
	work, err := os.MkdirTemp("", "aptsnap-verify-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(work)
	keyPath := filepath.Join(work, "key.asc")
	if err := os.WriteFile(keyPath, o.Key, 0o644); err != nil {
		return rep, err
	}
	line := func(suite string) string {
		return fmt.Sprintf("deb [signed-by=%s] %s/%s/ %s %s\n", keyPath, strings.TrimRight(o.URL, "/"), o.Serial, suite, strings.Join(o.Components, " "))
	}
	S, updates, proposed := r.Series, r.Series+"-updates", r.Series+"-proposed"
	for _, s := range []string{S, updates, proposed} {
		rep.Serials[r.Archive+"/"+s] = o.Serial
	}
	before, err := newRoot(ctx, filepath.Join(work, "before"), line(S)+line(updates), o.Arch)
	if err != nil {
		return rep, err
	}
	afterSources := line(S) + line(updates) + line(proposed)
	after, err := newRoot(ctx, filepath.Join(work, "after"), afterSources, o.Arch)
	if err != nil {
		return rep, err
	}

	family := familyBinaries(r, o.Arch)
	if len(family) == 0 {
		return rep, fmt.Errorf("update %d: no binary of the family for %s in %s", r.ID, o.Arch, proposed)
	}
	var specs []string
	for _, b := range family {
		specs = append(specs, b.Package+"="+b.Version)
		rep.Binaries[b.Package] = b.Version
	}
	fmt.Fprintf(o.Progress, "install check: %s\n", strings.Join(specs, " "))
	c := check("install the family from "+proposed, func(log *bytes.Buffer) bool {
		out, err := after.run(ctx, o.Timeout, "apt-get", append([]string{"-s", "install"}, specs...)...)
		log.Write(out)
		return err == nil
	})
	rep.Checks = append(rep.Checks, c)

	c = check("reverse dependencies in "+S+" and "+updates, func(log *bytes.Buffer) bool {
		return reverseDeps(ctx, o, before, after, family, log)
	})
	rep.Checks = append(rep.Checks, c)
	report(o.Progress, rep.Checks)

	if o.TestPlan {
		sources := filepath.Join(work, "proposed.list")
		if err := os.WriteFile(sources, []byte(afterSources), 0o644); err != nil {
			return rep, err
		}
		for _, cmdline := range TestPlan(r.Sections["Test Plan"]) {
			fmt.Fprintf(o.Progress, "test plan: $ %s\n", cmdline)
			c := check("test plan", func(log *bytes.Buffer) bool {
				return runCommand(ctx, o.Timeout, cmdline, work, sources, r, log)
			})
			c.Command = cmdline
			rep.Checks = append(rep.Checks, c)
			report(o.Progress, rep.Checks[len(rep.Checks)-1:])
		}
	}
	return rep, nil
}

func report(w io.Writer, cs []stable.Check) {
	for _, c := range cs {
		outcome := "passed"
		if !c.Passed {
			outcome = "FAILED"
		}
		fmt.Fprintf(w, "  %s: %s\n", c.Name, outcome)
	}
}

// TestPlan returns the commands a [Test Plan] lists: its lines starting
// with "$ ".
func TestPlan(text string) []string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(l), "$ "); ok && strings.TrimSpace(cmd) != "" {
			out = append(out, strings.TrimSpace(cmd))
		}
	}
	return out
}

// check runs f, timing it and keeping the end of its log.
func check(name string, f func(log *bytes.Buffer) bool) stable.Check {
	var log bytes.Buffer
	start := time.Now()
	passed := f(&log)
	c := stable.Check{Name: name, Passed: passed, Started: start.UTC(), Duration: time.Since(start)}
	b := log.Bytes()
	if len(b) > stable.MaxLog {
		b = b[len(b)-stable.MaxLog:]
	}
	c.Log = string(b)
	return c
}

// familyBinaries are the binaries of the request's uploads in S-proposed
// installable on arch (udebs aside).
func familyBinaries(r *stable.Request, arch string) []stable.Binary {
	var out []stable.Binary
	for _, u := range r.Uploads {
		if u.Serial == "" {
			continue
		}
		for _, b := range u.Binaries {
			if r.Proposed[b.Source] != u.Sources[b.Source] || (b.Arch != arch && b.Arch != "all") {
				continue
			}
			if i := slices.IndexFunc(out, func(o stable.Binary) bool { return o.Package == b.Package }); i >= 0 {
				out[i] = b
				continue
			}
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b stable.Binary) int { return strings.Compare(a.Package, b.Package) })
	return out
}

// reverseDeps checks that every package of S and S-updates that depends
// on a family binary (or that a new family binary breaks or conflicts
// with) and was installable before still is, with the family members it
// relates to at their new versions.
func reverseDeps(ctx context.Context, o Options, before, after *root, family []stable.Binary, log *bytes.Buffer) bool {
	related := map[string][]string{} // reverse dependency -> family specs
	isFamily := map[string]bool{}
	for _, b := range family {
		isFamily[b.Package] = true
	}
	for _, b := range family {
		out, err := before.run(ctx, o.Timeout, "apt-cache", "rdepends", "--no-suggests", "--no-recommends", "--no-enhances",
			"--no-conflicts", "--no-breaks", "--no-replaces", b.Package)
		if err != nil && !bytes.Contains(out, []byte("Unable to locate")) && !bytes.Contains(out, []byte("No packages found")) {
			fmt.Fprintf(log, "apt-cache rdepends %s: %v\n%s", b.Package, err, out)
			return false
		}
		names := rdepends(out)
		names = append(names, relationNames(b.Control, "Breaks", "Conflicts")...)
		for _, n := range names {
			if !isFamily[n] {
				related[n] = append(related[n], b.Package+"="+b.Version)
			}
		}
	}
	if len(related) == 0 {
		fmt.Fprintln(log, "no reverse dependency in the series")
		return true
	}
	ok := true
	for _, n := range slices.Sorted(maps.Keys(related)) {
		if out, err := before.run(ctx, o.Timeout, "apt-get", "-s", "install", n); err != nil {
			fmt.Fprintf(log, "%s: not installable before the update, not checked\n", n)
			if errors.Is(err, context.Canceled) {
				log.Write(out)
				return false
			}
			continue
		}
		args := append([]string{"-s", "install", n}, slices.Compact(slices.Sorted(slices.Values(related[n])))...)
		out, err := after.run(ctx, o.Timeout, "apt-get", args...)
		if err != nil {
			ok = false
			fmt.Fprintf(log, "%s: BROKEN by the update (apt-get %s):\n%s\n", n, strings.Join(args, " "), out)
			continue
		}
		fmt.Fprintf(log, "%s: installable with %s\n", n, strings.Join(related[n], " "))
	}
	return ok
}

// rdepends reads the package names apt-cache rdepends lists.
func rdepends(out []byte) []string {
	var names []string
	in := false
	for l := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(l, "Reverse Depends:") {
			in = true
			continue
		}
		if in && strings.HasPrefix(l, "  ") {
			n := strings.TrimLeft(strings.TrimSpace(l), "|")
			if n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// relationNames returns the package names the given relation fields of a
// control stanza name.
func relationNames(control []byte, fields ...string) []string {
	sc := deb822.NewScanner(control)
	if !sc.Scan() {
		return nil
	}
	var out []string
	for _, f := range fields {
		for rel := range strings.SplitSeq(string(sc.Field(f)), ",") {
			for alt := range strings.SplitSeq(rel, "|") {
				name := strings.TrimSpace(alt)
				if i := strings.IndexAny(name, " (:["); i >= 0 {
					name = name[:i]
				}
				if name != "" && !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		}
	}
	return out
}

// runCommand runs a test plan command with sh, in dir, with the proposed
// sources named in its environment.
func runCommand(ctx context.Context, timeout time.Duration, cmdline, dir, sources string, r *stable.Request, log *bytes.Buffer) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	scratch, err := os.MkdirTemp(dir, "cmd-")
	if err != nil {
		fmt.Fprintln(log, err)
		return false
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
	cmd.Dir = scratch
	cmd.Env = append(os.Environ(), "APTSNAP_PROPOSED_SOURCES="+sources,
		fmt.Sprintf("APTSNAP_UPDATE_ID=%d", r.ID), "APTSNAP_UPDATE_VERSIONS="+versionList(r.Proposed))
	w := &tail{max: stable.MaxLog}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	log.Write(w.bytes())
	if ctx.Err() == context.DeadlineExceeded {
		fmt.Fprintf(log, "\n(stopped after %s)\n", timeout)
		return false
	}
	if err != nil {
		fmt.Fprintf(log, "\n(%v)\n", err)
		return false
	}
	return true
}

func versionList(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf, t.cut = append([]byte(nil), t.buf[len(t.buf)-t.max:]...), true
	}
	return len(p), nil
}

func (t *tail) bytes() []byte {
	if len(t.buf) > t.max {
		t.buf, t.cut = t.buf[len(t.buf)-t.max:], true
	}
	if t.cut {
		return append([]byte("…"), t.buf...)
	}
	return t.buf
}
