package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsageErrors: what aptsnap cannot run is an error of status 2 that
// says why, with the nearest verbs; nothing prints a help and exits 0.
func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"snapshot", "expir"}, `aptsnap snapshot: unknown verb "expir" (did you mean expire?)`},
		{[]string{"snapshot", "lst"}, `aptsnap snapshot: unknown verb "lst" (did you mean list?)`},
		{[]string{"repo", "frobnicate"}, `aptsnap repo: unknown verb "frobnicate" (verbs: add, copy, list, publish, remove)`},
		{[]string{"snapshot"}, "aptsnap snapshot: name a verb: expire, list"},
		{[]string{"bump", "debian"}, "aptsnap bump: accepts 3 arg(s), received 1 (usage: aptsnap bump ARCHIVE SERIAL DAYS [flags])"},
		{[]string{"gc", "now"}, `aptsnap gc: unknown command "now" for "aptsnap gc"`},
		{[]string{"gc", "--frob"}, "unknown flag: --frob"},
		{[]string{"nosuch"}, `unknown command "nosuch" for "aptsnap"`},
		{[]string{"--log-level", "trace", "gc"}, `--log-level: want debug, info, warn or error, not "trace"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tt.args)
			err := root.Execute()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
		})
	}
	// --version says what it is.
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil || !strings.HasPrefix(out.String(), "aptsnap ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version: %q, %v", out.String(), err)
	}
}
