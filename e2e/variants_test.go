package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/repogen"
)

// TestUpstreamVariants: upstreams shaped like real ones still mirror.
func TestUpstreamVariants(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, e *env)
		check func(t *testing.T, e *env, serial string)
	}{
		{
			// Debian lists the uncompressed Packages in its Release but does
			// not ship it: we make it from Packages.xz/.gz and check it.
			name: "uncompressed index listed but absent",
			setup: func(t *testing.T, e *env) {
				e.up.write(0)
				dir := filepath.Join(e.up.dir, "repo/dists/bookworm/main/binary-amd64")
				plain, err := os.ReadFile(filepath.Join(dir, "Packages"))
				if err != nil {
					t.Fatal(err)
				}
				os.Remove(filepath.Join(dir, "Packages"))
				os.Remove(filepath.Join(dir, "by-hash/SHA256", blob.Sum(plain).String()))
			},
			check: func(t *testing.T, e *env, serial string) {
				code, body := e.get("/debian/" + serial + "/dists/bookworm/main/binary-amd64/Packages")
				if code != 200 || !strings.Contains(body, "Package: hello") {
					t.Fatalf("Packages: %d %.80q", code, body)
				}
				// A second pulse reuses the Packages it made.
				again := e.mustPulse()
				code, body2 := e.get("/debian/" + again.Serial + "/dists/bookworm/main/binary-amd64/Packages")
				if code != 200 || body2 != body {
					t.Fatalf("second pulse: Packages %d, same=%v", code, body2 == body)
				}
			},
		},
		{
			name: "no InRelease, Release + Release.gpg",
			setup: func(t *testing.T, e *env) {
				e.up.write(0)
				os.Remove(filepath.Join(e.up.dir, "repo/dists/bookworm/InRelease"))
			},
			check: func(t *testing.T, e *env, serial string) {
				if code, _ := e.get("/debian/" + serial + "/dists/bookworm/InRelease"); code != 200 {
					t.Fatalf("our InRelease: %d", code)
				}
			},
		},
		{
			name: "no by-hash",
			setup: func(t *testing.T, e *env) {
				e.up.write(0, func(r *repogen.Repo) { r.ByHash = false })
			},
			check: func(t *testing.T, e *env, serial string) {},
		},
		{
			name: "sources",
			setup: func(t *testing.T, e *env) {
				e.up.write(0, func(r *repogen.Repo) { r.Suites[0].Sources, r.Suites[1].Sources = true, true })
				e.cfg.Archives[0].Sources = true
				t.Cleanup(func() { e.cfg.Archives[0].Sources = false })
			},
			check: func(t *testing.T, e *env, serial string) {
				code, body := e.get("/debian/" + serial + "/dists/bookworm/main/source/Sources")
				if code != 200 || !strings.Contains(body, "Package: hello") {
					t.Fatalf("Sources: %d %.80q", code, body)
				}
				var dir, dsc string
				for _, l := range strings.Split(body, "\n") {
					if v, ok := strings.CutPrefix(l, "Directory: "); ok && strings.Contains(v, "/hello") {
						dir = v
					}
					if f := strings.Fields(l); len(f) == 3 && strings.HasPrefix(f[2], "hello_") && strings.HasSuffix(f[2], ".dsc") {
						dsc = f[2]
					}
				}
				if code, body := e.get("/debian/" + serial + "/" + dir + "/" + dsc); code != 200 || !strings.Contains(body, "Source: hello") {
					t.Fatalf("GET %s/%s: %d %.80q", dir, dsc, code, body)
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(t, e)
			snap, err := e.pulse()
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, e, snap.Serial)
			e.fingerprint(snap.Serial) // every index and pool file serves
			// Every file our Release lists is served with that checksum.
			_, rel := e.get("/debian/" + snap.Serial + "/dists/bookworm/Release")
			for _, line := range strings.Split(rel, "\n") {
				f := strings.Fields(line)
				if len(f) != 3 || len(f[0]) != 64 {
					continue
				}
				code, body := e.get("/debian/" + snap.Serial + "/dists/bookworm/" + f[2])
				if code != 200 || blob.Sum([]byte(body)).String() != f[0] {
					t.Errorf("%s: %d, sha256 %s, Release says %s", f[2], code, blob.Sum([]byte(body)), f[0])
				}
			}
			if v, err := e.app.Verify(t.Context(), "", ""); err != nil || len(v.Problems) > 0 {
				t.Fatalf("verify: %v %v", v.Problems, err)
			}
		})
	}
}
