package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/internal/s3test"
	"github.com/aptsnap/aptsnap/repogen"
)

// TestS3Store: an installation keeping its files in a real S3 server
// (VersityGW): a pulse stores there, the real apt-get updates and
// downloads through aptsnap, streamed or redirected to presigned URLs;
// verify is clean; credentials come from a file and appear nowhere in
// what is served.
func TestS3Store(t *testing.T) {
	ep := s3test.Start(t)
	for _, redirect := range []bool{false, true} {
		t.Run(fmt.Sprintf("redirect=%v", redirect), func(t *testing.T) {
			up := newUpstream(t)
			// A package over the small-file size, which a redirect is for.
			big := make([]byte, 200<<10)
			rand.Read(big)
			up.write(0, manyPackages(5), func(r *repogen.Repo) {
				r.Suites[0].Components["main"] = append(r.Suites[0].Components["main"],
					repogen.Package{Name: "bigpkg", Version: "1.0", Arch: "amd64", Files: map[string][]byte{"usr/share/bigpkg/data": big}})
			})
			creds := filepath.Join(t.TempDir(), "s3.env")
			os.WriteFile(creds, []byte("AWS_ACCESS_KEY_ID="+ep.AccessKey+"\nAWS_SECRET_ACCESS_KEY="+ep.SecretKey+"\n"), 0o600)
			prefix := fmt.Sprintf("r%v", redirect)
			cfg, err := config.Parse([]byte(fmt.Sprintf(`
data_dir = %q
public_url = "http://127.0.0.1"
[store]
s3_endpoint = %q
s3_bucket = %q
s3_region = %q
s3_prefix = %q
credentials_file = %q
redirect = %v
[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]
`, t.TempDir(), ep.URL, ep.Bucket, ep.Region, prefix, creds, redirect, up.url(), up.keyring)))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			snap, err := a.Pulse(ctx, "debian")
			if err != nil {
				t.Fatal(err)
			}
			// The files are in the bucket, not in data_dir.
			if ents, _ := os.ReadDir(filepath.Join(ep.Root, ep.Bucket, prefix, "sha256")); len(ents) == 0 {
				t.Fatalf("nothing stored under %s/sha256 in the bucket", prefix)
			}
			srv := httptest.NewServer(a.Handler())
			defer srv.Close()
			apt := apttest.New(t, fmt.Sprintf("deb [signed-by=$ROOT/key.asc] %s/debian/%s/ bookworm main\n", srv.URL, snap.Serial))
			apt.WriteFile("key.asc", a.Signer.PublicKey())
			if out, err := apt.Run("update"); err != nil {
				t.Fatalf("apt-get update: %v\n%s", err, out)
			}
			if _, stderr, err := apt.Exec("apt-get", "download", "hello", "filler003", "bigpkg"); err != nil {
				t.Fatalf("apt-get download: %v\n%s", err, stderr)
			}
			// A pool file: a redirect to the store, or the bytes.
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			pkgs := get(t, srv.URL+"/debian/"+snap.Serial+"/dists/bookworm/main/binary-amd64/Packages")
			name := ""
			for l := range strings.SplitSeq(pkgs, "\n") {
				if v, ok := strings.CutPrefix(l, "Filename: "); ok && strings.Contains(v, "bigpkg") {
					name = v
				}
			}
			resp, err := noFollow.Get(srv.URL + "/debian/" + snap.Serial + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			switch {
			case redirect && (resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, ep.URL) || !strings.Contains(loc, "X-Amz-Signature=")):
				t.Errorf("redirect: %d %q", resp.StatusCode, loc)
			case !redirect && resp.StatusCode != http.StatusOK:
				t.Errorf("streamed: %d", resp.StatusCode)
			}
			if strings.Contains(loc, ep.SecretKey) || strings.Contains(pkgs, ep.SecretKey) || strings.Contains(get(t, srv.URL+"/metrics"), ep.SecretKey) {
				t.Error("the secret key is served")
			}
			if res, err := a.Verify(ctx, "", ""); err != nil || len(res.Problems) != 0 || res.Files == 0 {
				t.Errorf("verify: %+v %v", res, err)
			}
		})
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return string(b)
}
