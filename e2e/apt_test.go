package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/internal/apttest"
)

// newAPT returns a throwaway apt that trusts only aptsnap's served key;
// opts are further apt options ("Name=value").
func (e *env) newAPT(t *testing.T, base string, opts ...string) *apttest.APT {
	t.Helper()
	code, key := e.get("/keys/aptsnap.asc")
	if code != 200 {
		t.Fatalf("GET /keys/aptsnap.asc: %d", code)
	}
	return newAPTFor(t, "deb [signed-by=$ROOT/aptsnap.asc] "+e.srv.URL+base+" bookworm main\n"+
		"deb [signed-by=$ROOT/aptsnap.asc] "+e.srv.URL+base+" bookworm-updates main\n", key, opts...)
}

// newAPTFor returns a throwaway apt with these sources, trusting key as
// $ROOT/aptsnap.asc.
func newAPTFor(t *testing.T, sources, key string, opts ...string) *apttest.APT {
	t.Helper()
	a := apttest.New(t, sources, opts...)
	a.WriteFile("aptsnap.asc", []byte(key))
	return a
}

func candidate(t *testing.T, a *apttest.APT, pkg string) string {
	t.Helper()
	out, _, err := a.Exec("apt-cache", "policy", pkg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Candidate: "); ok {
			return v
		}
	}
	t.Fatalf("no candidate for %s in:\n%s", pkg, out)
	return ""
}

// TestAptGet: the real apt-get updates from two serials taken before and
// after an upstream change, each with its own versions, side by side;
// downloads a package and checks it; a timestamp URL resolves to the right
// serial; and once Valid-Until has passed apt refuses the Release.
func TestAptGet(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	e.clock.Set(t0)
	s1 := e.mustPulse()
	e.up.write(1)
	e.clock.Set(t0.Add(time.Hour))
	s2 := e.mustPulse()
	e.clock.Set(time.Now())

	ts := s1.Created.Add(30 * time.Minute).UTC().Format("20060102T150405Z")
	for _, tt := range []struct {
		name, base, hello, tzdata string
	}{
		{"serial before the change", "/debian/" + s1.Serial + "/", "2.10-1", "2026a-0+deb12u1"},
		{"serial after the change", "/debian/" + s2.Serial + "/", "2.10-2", "2026a-0+deb12u2"},
		{"timestamp between the two", "/debian/" + ts + "/", "2.10-1", "2026a-0+deb12u1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := e.newAPT(t, tt.base)
			if out, err := a.Run("update"); err != nil {
				t.Fatalf("apt-get update: %v\n%s", err, out)
			}
			if got := candidate(t, a, "hello"); got != tt.hello {
				t.Errorf("hello candidate %s, want %s", got, tt.hello)
			}
			if got := candidate(t, a, "tzdata"); got != tt.tzdata {
				t.Errorf("tzdata candidate %s, want %s", got, tt.tzdata)
			}
			if out, err := a.Run("download", "hello"); err != nil {
				t.Fatalf("apt-get download: %v\n%s", err, out)
			}
			deb := filepath.Join(a.Root(), "download", "hello_"+tt.hello+"_amd64.deb")
			if _, err := os.Stat(deb); err != nil {
				t.Fatalf("downloaded package missing: %v", err)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		// A snapshot taken eleven days ago with valid_days = 10 expired
		// yesterday; apt (with its date checks on) must refuse it.
		e := newEnv(t)
		e.clock.Set(time.Now().Add(-11 * 24 * time.Hour))
		old := e.mustPulse()
		e.clock.Set(time.Now())
		e.up.write(1)
		s2 := e.mustPulse()
		if !old.ValidUntil.Before(time.Now()) {
			t.Fatalf("snapshot valid until %s, want the past", old.ValidUntil)
		}
		a := e.newAPT(t, "/debian/"+old.Serial+"/")
		out, err := a.Run("update")
		if err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("apt-get update of an expired snapshot: err=%v\n%s", err, out)
		}
		// The same apt accepts a valid one.
		a.SetSources("deb [signed-by=$ROOT/aptsnap.asc] " + e.srv.URL + "/debian/" + s2.Serial + "/ bookworm main\n")
		if out, err := a.Run("update"); err != nil {
			t.Fatalf("apt-get update of a valid snapshot: %v\n%s", err, out)
		}
	})
}
