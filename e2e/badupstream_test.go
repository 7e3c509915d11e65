package e2e

import (
	"bytes"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/mirror"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
)

// TestBadUpstreams: every kind of bad upstream makes the pulse fail with a
// one-line reason, leaves the previous snapshot serving identically and no
// new serial, and the next good pulse succeeds.
func TestBadUpstreams(t *testing.T) {
	tests := []struct {
		name string
		// setup breaks the upstream (after generation 0 was pulsed).
		setup func(t *testing.T, e *env)
		want  string
		// reason is the failure's kind in logs and metrics.
		reason string
	}{
		{
			name: "wrong signature",
			setup: func(t *testing.T, e *env) {
				e.up.write(1)
				p := filepath.Join(e.up.dir, "repo/dists/bookworm/InRelease")
				b, _ := os.ReadFile(p)
				b = bytes.Replace(b, []byte("Label: Debian"), []byte("Label: Debiam"), 1)
				os.WriteFile(p, b, 0o644)
			},
			want:   "bad signature",
			reason: "signature",
		},
		{
			name: "unknown key",
			setup: func(t *testing.T, e *env) {
				key, _ := pgp.GenerateKey("Someone Else", "x@example.invalid", "ed25519")
				other, _ := pgp.ParseSigner(key)
				e.up.write(1, func(r *repogen.Repo) { r.Signer = other })
			},
			want:   "unknown key",
			reason: "signature",
		},
		{
			name: "tampered index",
			setup: func(t *testing.T, e *env) {
				e.up.write(1)
				e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
					if strings.Contains(r.URL.Path, "/binary-amd64/") && !strings.HasSuffix(r.URL.Path, "Release") {
						w.Write([]byte("Package: evil\nVersion: 6.6.6\n\n"))
						return true
					}
					return false
				})
			},
			want:   "does not match",
			reason: "checksum",
		},
		{
			name: "truncated pool file",
			setup: func(t *testing.T, e *env) {
				e.up.write(1)
				e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
					if strings.HasSuffix(r.URL.Path, ".deb") {
						b, err := os.ReadFile(filepath.Join(e.up.dir, "repo", strings.TrimPrefix(r.URL.Path, "/debian/")))
						if err != nil {
							return false
						}
						w.Write(b[:len(b)/2])
						return true
					}
					return false
				})
			},
			want:   "does not match",
			reason: "checksum",
		},
		{
			name: "Date going backwards",
			setup: func(t *testing.T, e *env) {
				e.up.write(1)
				e.mustPulse()
				e.up.write(0) // generation 0 again: an hour older
			},
			want:   "older than the last accepted",
			reason: "date",
		},
		{
			name: "Date in the future",
			setup: func(t *testing.T, e *env) {
				e.up.write(1, func(r *repogen.Repo) { r.Suites[0].Date = time.Now().Add(24 * time.Hour) })
			},
			want:   "in the future",
			reason: "date",
		},
		{
			name: "upstream Valid-Until passed",
			setup: func(t *testing.T, e *env) {
				e.up.write(1, func(r *repogen.Repo) { r.Suites[1].ValidUntil = time.Now().Add(-time.Hour) })
			},
			want:   "expired",
			reason: "date",
		},
		{
			name: "upstream unreachable mid-pulse",
			setup: func(t *testing.T, e *env) {
				e.up.write(1)
				e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
					if strings.HasSuffix(r.URL.Path, "InRelease") {
						return false
					}
					// Drop the connection without an answer, as a dead host would.
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						conn.Close()
					}
					return true
				})
			},
			want:   "EOF",
			reason: "unreachable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			first := e.mustPulse()
			tt.setup(t, e)
			before := e.serials()
			prints := e.fingerprint(before[len(before)-1])
			firstPrints := e.fingerprint(first.Serial)

			_, err := e.pulse()
			if err == nil {
				t.Fatal("pulse succeeded against a bad upstream")
			}
			var pe *mirror.Error
			if !errors.As(err, &pe) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not a one-line pulse error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if got := mirror.Reason(err); got != tt.reason {
				t.Errorf("reason %q, want %q", got, tt.reason)
			}
			if after := e.serials(); !slicesEqual(after, before) {
				t.Fatalf("serials changed by a failed pulse: %v -> %v", before, after)
			}
			if !maps.Equal(prints, e.fingerprint(before[len(before)-1])) || !maps.Equal(firstPrints, e.fingerprint(first.Serial)) {
				t.Fatal("previous snapshots do not serve identically after a failed pulse")
			}
			pulses, _ := e.app.Catalog.Pulses(t.Context(), "debian", 1)
			if len(pulses) != 1 || pulses[0].OK || !strings.Contains(pulses[0].Error, tt.want) {
				t.Errorf("pulse log = %+v, want the failure recorded", pulses)
			}

			// Repair: the next good pulse succeeds.
			e.up.setFault(nil)
			e.up.write(2)
			snap, err := e.pulse()
			if err != nil {
				t.Fatalf("pulse after repair: %v", err)
			}
			code, body := e.get("/debian/" + snap.Serial + "/dists/bookworm/main/binary-amd64/Packages")
			if code != 200 || !strings.Contains(body, "Version: 2.10-3") {
				t.Fatalf("repaired snapshot serves %d %q", code, body)
			}
			if v, err := e.app.Verify(t.Context(), "", ""); err != nil || len(v.Problems) > 0 {
				t.Fatalf("verify after repair: %v %v", v.Problems, err)
			}
		})
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
