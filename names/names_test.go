package names

import (
	"strings"
	"testing"
	"time"
)

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		f    func(string) bool
		what string
		in   string
		want bool
	}{
		{Archive, "archive", "debian-security", true},
		{Archive, "archive", "ours+1.0", true},
		{Archive, "archive", "Debian", false},
		{Archive, "archive", "deb_ian", false},
		{Archive, "archive", "-debian", false},
		{Archive, "archive", "", false},
		{Archive, "archive", "../etc", false},
		{Serial, "serial", "2026112301", true},
		{Serial, "serial", "202611230", false},
		{Serial, "serial", "20261123011", false},
		{Serial, "serial", "2026112a01", false},
		{Tag, "tag", "6.1", true},
		{Tag, "tag", "2026.04~rc1_b+2-x", true},
		{Tag, "tag", ".hidden", false},
		{Tag, "tag", "a/b", false},
		{Tag, "tag", strings.Repeat("x", MaxTag), true},
		{Tag, "tag", strings.Repeat("x", MaxTag+1), false},
		{Reserved, "reserved", "tagged", true},
		{Reserved, "reserved", "debian", false},
	} {
		if got := tt.f(tt.in); got != tt.want {
			t.Errorf("%s %q: %v, want %v", tt.what, tt.in, got, tt.want)
		}
	}
	if ts, ok := Timestamp("20261123T081500Z"); !ok || !ts.Equal(time.Date(2026, 11, 23, 8, 15, 0, 0, time.UTC)) {
		t.Errorf("Timestamp = %s, %v", ts, ok)
	}
	for _, bad := range []string{"20261123T081500", "20261323T081500Z", "2026112301", ""} {
		if _, ok := Timestamp(bad); ok {
			t.Errorf("Timestamp(%q) accepted", bad)
		}
	}
}
