package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/custom"
	"github.com/aptsnap/aptsnap/stable"
	"github.com/aptsnap/aptsnap/stablecheck"
)

// The stable update verbs (see package stable).

func updateCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "update", Short: "Stable updates: one tracked request per package family, from -proposed through verification to -updates",
		Long: `A stable update moves a family of source packages to a new upstream version in
a series: a custom archive's suite S with its pockets S-proposed and S-updates.

  update new ARCHIVE/S --source A,B --version V   a draft, from the template
  update edit ID        write the sections (every TODO)
  update upload ID F.changes...   the family's signed uploads
  update submit ID      ask for review
  update accept ID      a reviewer (not the submitter): uploads go into S-proposed
  update verify ID      install checks and the test plan, reported
  update release ID     into S-updates, after min_days_proposed, phased
  update phase ID PCT / update halt ID`}
	var kind string
	var sources []string
	var version string
	newCmd := &cobra.Command{
		Use:   "new ARCHIVE/SERIES --source PKG[,PKG...] --version V",
		Short: "Create a request for a family of source packages, from the template",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				r, err := b.UpdateNew(ctx, stable.NewRequest{Series: args[0], Sources: sources, Version: version, Kind: kind})
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "update %d: %s, draft; fill its sections: aptsnap update edit %d\n", r.ID, r.Name(), r.ID)
				return nil
			})
		},
	}
	newCmd.Flags().StringSliceVar(&sources, "source", nil, "the family's source packages (repeat, or comma-separated)")
	newCmd.Flags().StringVar(&version, "version", "", "the upstream version the family moves to")
	newCmd.Flags().StringVar(&kind, "kind", stable.BugFix, "bugfix (bug fixes only) or feature (new features, under an exception)")

	var series, state string
	list := &cobra.Command{
		Use:   "list",
		Short: "List requests: ID, series, family, version, state, days in -proposed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				rs, err := b.UpdateList(ctx, series, stable.State(state))
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSERIES\tSOURCES\tVERSION\tSTATE\tUPDATED")
				for _, r := range rs {
					st := string(r.State)
					if r.State == stable.Released && r.Phase < 100 {
						st += fmt.Sprintf(" (phased %d%%)", r.Phase)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.SeriesName(), strings.Join(r.Sources, ","), r.Version, st, r.Updated.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&series, "series", "", "only this series (ARCHIVE/SUITE)")
	list.Flags().StringVar(&state, "state", "", "only requests in this state (draft, submitted, verification-needed, verification-failed, verification-done, released, rejected)")

	var asJSON bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a request: its sections, uploads, verifications and history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withRequest(cmd, args[0], func(ctx context.Context, b *backend, w io.Writer, id int64) error {
				r, err := b.UpdateShow(ctx, id)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					return enc.Encode(r)
				}
				printRequest(w, r)
				return nil
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print the whole record as JSON")

	var section, file string
	edit := &cobra.Command{
		Use:   "edit ID [--section NAME --file F]",
		Short: "Edit a request's sections in $EDITOR, or set one section from a file (- for standard input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (section == "") != (file == "") {
				return usageError{errors.New("give --section and --file together, or neither (to edit in $EDITOR)")}
			}
			return g.withRequest(cmd, args[0], func(ctx context.Context, b *backend, w io.Writer, id int64) error {
				var text string
				if file != "" {
					data, err := readInput(cmd.InOrStdin(), file)
					if err != nil {
						return err
					}
					text = string(data)
				} else {
					r, err := b.UpdateShow(ctx, id)
					if err != nil {
						return err
					}
					if text, err = editText(r.Text()); err != nil {
						return err
					}
				}
				r, err := b.UpdateEdit(ctx, id, section, text)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "update %d: saved (%s)\n", r.ID, r.State)
				return nil
			})
		},
	}
	edit.Flags().StringVar(&section, "section", "", "the section to set: "+strings.Join(stable.Sections, ", "))
	edit.Flags().StringVar(&file, "file", "", "the file holding its text (- for standard input)")

	upload := &cobra.Command{
		Use:   "upload ID FILE.changes...",
		Short: "Upload the family's .changes (signed by a key of the archive's keyring) with the files they list",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := custom.UploadFiles(args[1:])
			if err != nil {
				return err
			}
			return g.withRequest(cmd, args[0], func(ctx context.Context, b *backend, w io.Writer, id int64) error {
				r, err := b.UpdateUpload(ctx, id, files)
				if err != nil {
					return err
				}
				u := r.Uploads[len(r.Uploads)-1]
				where := "kept until the request is accepted"
				if u.Serial != "" {
					where = fmt.Sprintf("in %s-proposed %s; the request needs verifying again", r.Series, u.Serial)
				}
				for _, s := range r.Sources {
					if v, ok := u.Sources[s]; ok {
						fmt.Fprintf(w, "uploaded %s %s\n", s, v)
					}
				}
				fmt.Fprintf(w, "update %d: %s\n", r.ID, where)
				return nil
			})
		},
	}

	var reason string
	var phase int
	simple := func(action, short string) *cobra.Command {
		return &cobra.Command{
			Use:   action + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				arg := api.UpdateArg{Reason: reason}
				if action == "release" && cmd.Flags().Changed("phase") {
					arg.Phase = &phase
				}
				return g.withRequest(cmd, args[0], func(ctx context.Context, b *backend, w io.Writer, id int64) error {
					r, err := b.UpdateDo(ctx, id, action, arg)
					if err != nil {
						return err
					}
					printTransition(w, r)
					return nil
				})
			},
		}
	}
	reject := simple("reject", "Reject a request (what it put into -proposed is taken out)")
	reject.Flags().StringVar(&reason, "reason", "", "why (recorded)")
	release := simple("release", "Release a verified request into S-updates (after min_days_proposed days in -proposed)")
	release.Flags().IntVar(&phase, "phase", 0, "Phased-Update-Percentage to start at (default: the archive's phase_start; 100: not phased)")
	phaseCmd := &cobra.Command{
		Use:   "phase ID PERCENT",
		Short: "Set a released request's Phased-Update-Percentage in S-updates",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pct, err := strconv.Atoi(strings.TrimSuffix(args[1], "%"))
			if err != nil || pct < 0 || pct > 100 {
				return usageError{fmt.Errorf("the percentage is from 0 to 100, not %q", args[1])}
			}
			return g.withRequest(cmd, args[0], func(ctx context.Context, b *backend, w io.Writer, id int64) error {
				r, err := b.UpdateDo(ctx, id, "phase", api.UpdateArg{Phase: &pct})
				if err != nil {
					return err
				}
				printTransition(w, r)
				return nil
			})
		},
	}
	c.AddCommand(newCmd, list, show, edit, upload,
		simple("submit", "Submit a draft for review (every TODO written)"),
		simple("accept", "Accept a submitted request (a reviewer other than its submitter): its uploads go into S-proposed"),
		reject, verifyUpdateCmd(g), release, phaseCmd,
		simple("halt", "Halt a released request's phasing (Phased-Update-Percentage 0)"))
	return c
}

func verifyUpdateCmd(g *globals) *cobra.Command {
	var noPlan bool
	var timeout time.Duration
	var arch, key string
	c := &cobra.Command{
		Use:   "verify ID",
		Short: "Verify a request here: install checks with the real apt-get, then its test plan's \"$ \" commands; report to the server",
		Long: `Runs, on this machine, with the series pinned to the archive's newest snapshot:
  - apt-get -s install of every binary of the family at the versions in S-proposed,
    in a throwaway APT root (nothing is installed on this machine);
  - for every reverse dependency in S and S-updates installable before the
    update: that it still is, with the family members it relates to;
  - each line of [Test Plan] starting with "$ ", run with sh in a scratch
    directory, with APTSNAP_PROPOSED_SOURCES naming a sources.list of S,
    S-updates and S-proposed (and APTSNAP_UPDATE_ID, APTSNAP_UPDATE_VERSIONS).
The report goes to the server: every check passed, verification-done with a
comment of what ran at which versions; else verification-failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withRequest(cmd, args[0], func(ctx context.Context, b *backend, w io.Writer, id int64) error {
				r, err := b.UpdateShow(ctx, id)
				if err != nil {
					return err
				}
				archives, err := b.Archives(ctx)
				if err != nil {
					return err
				}
				var arc *api.Archive
				for i := range archives {
					if archives[i].Name == r.Archive {
						arc = &archives[i]
					}
				}
				if arc == nil {
					return fmt.Errorf("update verify %d: the server serves no archive %q", id, r.Archive)
				}
				serial, err := b.Latest(ctx, r.Archive)
				if err != nil {
					return err
				}
				keyData, err := signingKey(ctx, key, arc.URL)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "verifying update %d (%s) against %s/%s\n", r.ID, stable.Versions(r.Proposed), arc.URL, serial)
				rep, err := stablecheck.Run(ctx, stablecheck.Options{Request: r, URL: arc.URL, Serial: serial, Key: keyData,
					Components: arc.Components, Arch: arch, TestPlan: !noPlan, Timeout: timeout, Progress: w})
				if err != nil {
					return fmt.Errorf("update verify %d: %w", id, err)
				}
				r, err = b.UpdateVerify(ctx, id, rep)
				if err != nil {
					return err
				}
				printTransition(w, r)
				if r.State == stable.VerificationFailed {
					for _, c := range rep.Checks {
						if !c.Passed {
							fmt.Fprintf(w, "\n--- %s %s\n%s\n", c.Name, c.Command, lastLines(c.Log, 40))
						}
					}
					return errors.New("verification failed (recorded)")
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&noPlan, "no-test-plan", false, "run the install checks only (verification is then not done)")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "time limit of each command")
	c.Flags().StringVar(&arch, "arch", "", "architecture to install (default: this machine's)")
	c.Flags().StringVar(&key, "key", "", "the archive's signing key (default: fetched from the server's /keys/aptsnap.asc)")
	return c
}

// signingKey reads the key file, or fetches /keys/aptsnap.asc from the
// server serving archiveURL.
func signingKey(ctx context.Context, file, archiveURL string) ([]byte, error) {
	if file != "" {
		return os.ReadFile(file)
	}
	u, err := url.Parse(archiveURL)
	if err != nil {
		return nil, err
	}
	u.Path, u.RawQuery = "/keys/aptsnap.asc", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the archive's signing key: %w (give --key)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the archive's signing key: GET %s: %s (give --key)", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// withRequest runs f with the backend and the request number arg.
func (g *globals) withRequest(cmd *cobra.Command, arg string, f func(ctx context.Context, b *backend, w io.Writer, id int64) error) error {
	id, err := parseID(arg)
	if err != nil {
		return err
	}
	return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error { return f(ctx, b, w, id) })
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, usageError{fmt.Errorf("%q is not a request number (aptsnap update list shows them)", s)}
	}
	return id, nil
}

func readInput(stdin io.Reader, file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(stdin, 1<<20))
	}
	return os.ReadFile(file)
}

// editText runs $EDITOR (VISUAL, else EDITOR, else vi) on text.
func editText(text string) (string, error) {
	f, err := os.CreateTemp("", "aptsnap-update-*.txt")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.Command("sh", "-c", editor+` "$1"`, "editor", f.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w (the text was not saved)", editor, err)
	}
	data, err := os.ReadFile(f.Name())
	return string(data), err
}

func printTransition(w io.Writer, r *stable.Request) {
	last := r.History[len(r.History)-1]
	fmt.Fprintf(w, "update %d: %s by %s", r.ID, last.Action, last.By)
	if last.To != "" {
		fmt.Fprintf(w, ", now %s", last.To)
	}
	if last.Note != "" {
		fmt.Fprintf(w, " (%s)", last.Note)
	}
	fmt.Fprintln(w)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// printRequest prints a request for reading.
func printRequest(w io.Writer, r *stable.Request) {
	fmt.Fprintf(w, "Update %d: %s %s in %s (%s)\nState: %s\n", r.ID, strings.Join(r.Sources, ", "), r.Version, r.SeriesName(), r.Kind, r.State)
	fmt.Fprintf(w, "Created by %s at %s", r.Creator, r.Created.Format(time.RFC3339))
	if r.Submitter != "" {
		fmt.Fprintf(w, "; submitted by %s", r.Submitter)
	}
	if r.Reviewer != "" {
		fmt.Fprintf(w, "; accepted by %s", r.Reviewer)
	}
	fmt.Fprintln(w)
	if len(r.Proposed) > 0 {
		fmt.Fprintf(w, "In %s-proposed since %s (%s): %s\n", r.Series, r.ProposedAt.Format(time.RFC3339), r.ProposedSerial, stable.Versions(r.Proposed))
	}
	if len(r.Released) > 0 {
		fmt.Fprintf(w, "Released into %s-updates at %s: %s; phased %d%%", r.Series, r.ReleasedAt.Format(time.RFC3339), stable.Versions(r.Released), r.Phase)
		if r.Halted {
			fmt.Fprint(w, " (halted)")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%s\n", r.Text())
	if len(r.Uploads) > 0 {
		fmt.Fprintln(w, "Uploads:")
		for _, u := range r.Uploads {
			where := "waiting for acceptance"
			switch {
			case u.Superseded:
				where = "superseded"
			case u.Serial != "":
				where = "in -proposed " + u.Serial
			}
			fmt.Fprintf(w, "  %s by %s: %s (%s)\n", u.At.Format(time.RFC3339), u.By, stable.Versions(u.Sources), where)
		}
	}
	if len(r.Verifications) > 0 {
		fmt.Fprintln(w, "Verifications:")
		for _, v := range r.Verifications {
			outcome := "FAILED"
			if v.Passed {
				outcome = "passed"
			}
			fmt.Fprintf(w, "  %s by %s on %s: %s\n", v.At.Format(time.RFC3339), v.By, stable.Versions(v.Versions), outcome)
			if v.Comment != "" {
				for l := range strings.SplitSeq(strings.TrimRight(v.Comment, "\n"), "\n") {
					fmt.Fprintf(w, "    %s\n", l)
				}
			}
		}
	}
	fmt.Fprintln(w, "History:")
	for _, ev := range r.History {
		fmt.Fprintf(w, "  %s %s %s", ev.At.Format(time.RFC3339), ev.By, ev.Action)
		if ev.To != "" {
			fmt.Fprintf(w, " → %s", ev.To)
		}
		if ev.Note != "" {
			fmt.Fprintf(w, ": %s", ev.Note)
		}
		fmt.Fprintln(w)
	}
}
