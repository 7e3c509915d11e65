package stablecheck

import (
	"slices"
	"strings"
	"testing"
)

func TestTestPlan(t *testing.T) {
	text := "Run the smoke test:\n$ autopkgtest foo -- null\n  $ sh check.sh --all  \nnot $ this\n$ \n"
	want := []string{"autopkgtest foo -- null", "sh check.sh --all"}
	if got := TestPlan(text); !slices.Equal(got, want) {
		t.Errorf("TestPlan = %q, want %q", got, want)
	}
}

func TestRdepends(t *testing.T) {
	out := "python3-acmelib\nReverse Depends:\n  acmeclient\n |acme-dashboard\n  acmeclient\nW: something\n"
	// apt-cache prints alternatives with a leading "|" in place of a space.
	out = strings.Replace(out, " |acme", "  |acme", 1)
	if got, want := rdepends([]byte(out)), []string{"acmeclient", "acme-dashboard"}; !slices.Equal(got, want) {
		t.Errorf("rdepends = %q, want %q", got, want)
	}
}

func TestRelationNames(t *testing.T) {
	control := []byte("Package: lib\nBreaks: old-a (<< 5.0), old-b:any | old-c [amd64]\nConflicts: other\nDepends: not-this\n")
	if got, want := relationNames(control, "Breaks", "Conflicts"), []string{"old-a", "old-b", "old-c", "other"}; !slices.Equal(got, want) {
		t.Errorf("relationNames = %q, want %q", got, want)
	}
}

func TestTail(t *testing.T) {
	w := &tail{max: 10}
	for range 7 {
		w.Write([]byte("0123456789"))
	}
	w.Write([]byte("end"))
	if got := string(w.bytes()); got != "…3456789end" {
		t.Errorf("tail = %q", got)
	}
	short := &tail{max: 10}
	short.Write([]byte("abc"))
	if got := string(short.bytes()); got != "abc" {
		t.Errorf("tail = %q", got)
	}
}
