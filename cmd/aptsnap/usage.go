package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// usageError is a command line aptsnap cannot run: an unknown verb, a
// stray or missing argument, an unknown flag. It exits with status 2, as
// a shell builtin given bad usage does, so that a script tells it from a
// failure of the work.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode is the process status for an error of Execute.
func exitCode(err error) int {
	if _, ok := errors.AsType[usageError](err); ok {
		return 2
	}
	// What cobra itself refuses before any command runs.
	for _, p := range []string{"unknown command ", "unknown flag: ", "unknown shorthand flag: ", "flag needs an argument", "invalid argument "} {
		if strings.HasPrefix(err.Error(), p) {
			return 2
		}
	}
	return 1
}

// strict makes every command of the tree refuse what it cannot run: a
// group (snapshot, repo, ...) given no verb or an unknown one says so,
// with the nearest verbs, and argument and flag errors are usageErrors.
func strict(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	c.SuggestionsMinimumDistance = 2
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil && c.HasParent() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			var verbs []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					verbs = append(verbs, sub.Name())
				}
			}
			if len(args) == 0 {
				return usageError{fmt.Errorf("%s: name a verb: %s", cmd.CommandPath(), strings.Join(verbs, ", "))}
			}
			msg := fmt.Sprintf("%s: unknown verb %q", cmd.CommandPath(), args[0])
			if near := cmd.SuggestionsFor(args[0]); len(near) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, " or "))
			} else {
				msg += " (verbs: " + strings.Join(verbs, ", ") + ")"
			}
			return usageError{errors.New(msg)}
		}
	} else if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{fmt.Errorf("%s: %w (usage: %s)", cmd.CommandPath(), err, cmd.UseLine())}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		strict(sub)
	}
}

// buildVersion is set by a package build (-ldflags "-X
// main.buildVersion=0.1.0-1"): the version the package carries.
var buildVersion string

// version is what aptsnap --version prints: the module version, the
// commit it was built from and the Go that built it; or a package build's
// version and its Go.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if buildVersion != "" {
		return fmt.Sprintf("%s (%s)", buildVersion, info.GoVersion)
	}
	v, commit, dirty := strings.Trim(info.Main.Version, "()"), "", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("%s (commit %s%s, %s)", v, commit, dirty, info.GoVersion)
}
