package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/internal/pgtest"
	"github.com/aptsnap/aptsnap/internal/s3test"
	"github.com/aptsnap/aptsnap/repogen"
)

// clusterConfig is the configuration of one of several servers sharing a
// PostgreSQL catalog and an S3 bucket.
func clusterConfig(t *testing.T, dsn string, ep s3test.Endpoint, up *upstream, listen string) string {
	t.Helper()
	creds := filepath.Join(t.TempDir(), "s3.env")
	os.WriteFile(creds, []byte("AWS_ACCESS_KEY_ID="+ep.AccessKey+"\nAWS_SECRET_ACCESS_KEY="+ep.SecretKey+"\n"), 0o600)
	p := filepath.Join(t.TempDir(), "aptsnap.toml")
	os.WriteFile(p, []byte(fmt.Sprintf(`
data_dir = %q
listen = %q
public_url = "http://snapshots.example"
parallel_downloads = 2
gc_every = "0"
[catalog]
postgres = %q
[store]
s3_endpoint = %q
s3_bucket = %q
s3_region = %q
credentials_file = %q
[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["bookworm", "bookworm-updates"]
components = ["main"]
architectures = ["amd64"]
pulses_per_day = 96
`, t.TempDir(), listen, dsn, ep.URL, ep.Bucket, ep.Region, creds, up.url(), up.keyring)), 0o644)
	return p
}

// server is an `aptsnap serve` process.
type server struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCluster: three servers on one PostgreSQL and one S3 bucket. A load
// through all three (every file of the live snapshot, checked against the
// SHA256 its Release lists) runs while the leader, the one server running
// the schedule, is killed with SIGKILL in the middle of a pulse: another
// takes over at once and makes the snapshot, once; no answer is wrong;
// verify is clean; the real apt-get works through any server.
func TestCluster(t *testing.T) {
	bin := aptsnapBinary(t)
	dsn := pgtest.Start(t)
	ep := s3test.Start(t)
	up := newUpstream(t)
	up.write(0, manyPackages(20))
	ctx := context.Background()

	// A first snapshot, made an hour ago (so that the schedule pulses
	// at once), by an aptsnap in this process on the shared storage.
	seedCfg, err := config.Load(clusterConfig(t, dsn, ep, up, "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := app.Open(ctx, seedCfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	seed.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	first, err := seed.Pulse(ctx, "debian")
	if err != nil {
		t.Fatal(err)
	}
	files := liveFiles(t, seed, first.Serial)
	seed.Close()

	// The next generation brings 40 new packages, served slowly: the
	// pulse takes seconds.
	up.write(1, manyPackages(20), func(r *repogen.Repo) {
		for i := range 40 {
			r.Suites[0].Components["main"] = append(r.Suites[0].Components["main"],
				repogen.Package{Name: fmt.Sprintf("new%03d", i), Version: "1.0-1", Arch: "amd64"})
		}
	})
	var poolHits atomic.Int64
	up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/pool/") {
			poolHits.Add(1)
			time.Sleep(150 * time.Millisecond)
		}
		return false
	})

	var servers []*server
	for range 3 {
		addr := freeAddr(t)
		s := &server{addr: addr, logs: &syncBuffer{}}
		s.cmd = exec.Command(bin, "--config", clusterConfig(t, dsn, ep, up, addr), "serve")
		s.cmd.Stderr = s.logs
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
		servers = append(servers, s)
	}
	waitUntil(t, "three servers answer", func() bool {
		for _, s := range servers {
			if resp, err := http.Get("http://" + s.addr + "/debian/project/trace/debian"); err != nil {
				return false
			} else {
				resp.Body.Close()
			}
		}
		return true
	})

	// The load: round robin over the servers, as a load balancer that
	// takes a server out when it refuses connections.
	var ok, wrong, retried atomic.Int64
	var firstWrong atomic.Value
	stop := make(chan struct{})
	var dead sync.Map
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f := files[i%len(files)]
				for try := 0; try < len(servers); try++ {
					s := servers[(i+try)%len(servers)]
					if _, gone := dead.Load(s.addr); gone {
						continue
					}
					resp, err := client.Get("http://" + s.addr + "/debian/" + first.Serial + "/" + f.path)
					if err != nil {
						retried.Add(1)
						continue // the balancer tries the next server
					}
					h := sha256.New()
					_, err = io.Copy(h, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || hex.EncodeToString(h.Sum(nil)) != f.sha256 {
						wrong.Add(1)
						firstWrong.CompareAndSwap(nil, fmt.Sprintf("%s from %s: %d %v", f.path, s.addr, resp.StatusCode, err))
					} else {
						ok.Add(1)
					}
					break
				}
			}
		})
	}

	// The leader pulses; kill it in the middle.
	var leader *server
	waitUntil(t, "a leader", func() bool {
		for _, s := range servers {
			if strings.Contains(s.logs.String(), "leading: this server runs the schedule") {
				leader = s
				return true
			}
		}
		return false
	})
	waitUntil(t, "the leader's pulse under way", func() bool { return poolHits.Load() >= 3 })
	dead.Store(leader.addr, true)
	leader.cmd.Process.Signal(syscall.SIGKILL)
	leader.cmd.Wait()
	killed := time.Now()
	var next *server
	waitUntil(t, "another leader", func() bool {
		for _, s := range servers {
			if s != leader && strings.Contains(s.logs.String(), "leading: this server runs the schedule") {
				next = s
				return true
			}
		}
		return false
	})
	takeover := time.Since(killed)
	up.setFault(nil)
	waitUntil(t, "the new leader's snapshot", func() bool {
		return strings.Contains(get(t, "http://"+next.addr+"/debian/project/trace/debian"), "Archive serial:") &&
			!strings.Contains(get(t, "http://"+next.addr+"/debian/project/trace/debian"), first.Serial)
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("takeover in %s; %d answers checked, %d retried on another server", takeover.Round(time.Millisecond), ok.Load(), retried.Load())
	if wrong.Load() != 0 || ok.Load() == 0 {
		t.Errorf("%d wrong answers (first: %v), %d right", wrong.Load(), firstWrong.Load(), ok.Load())
	}
	if takeover > 15*time.Second {
		t.Errorf("the takeover took %s", takeover)
	}

	// Two snapshots: the seed's and the new leader's; none twice.
	c := &cli{t: t, bin: bin, config: clusterConfig(t, dsn, ep, up, "127.0.0.1:0")}
	list := c.local("snapshot", "list", "debian")
	if n := strings.Count(list, "\ndebian "); n != 2 {
		t.Errorf("snapshot list after the takeover (%d snapshots, want 2):\n%s", n, list)
	}
	if out := c.local("verify"); !strings.HasSuffix(out, " checked: ok\n") {
		t.Errorf("verify: %s", out)
	}

	// The real apt-get through either survivor.
	for _, s := range servers {
		if s == leader {
			continue
		}
		trace := get(t, "http://"+s.addr+"/debian/project/trace/debian")
		serial := strings.TrimSpace(strings.SplitN(strings.SplitN(trace, "Archive serial:", 2)[1], "\n", 2)[0])
		apt := apttest.New(t, fmt.Sprintf("deb [signed-by=$ROOT/key.asc] http://%s/debian/%s/ bookworm main\n", s.addr, serial))
		apt.WriteFile("key.asc", []byte(get(t, "http://"+s.addr+"/keys/aptsnap.asc")))
		if out, err := apt.Run("update"); err != nil {
			t.Fatalf("apt-get update via %s: %v\n%s", s.addr, err, out)
		}
		if _, stderr, err := apt.Exec("apt-get", "download", "hello", "filler007"); err != nil {
			t.Fatalf("apt-get download via %s: %v\n%s", s.addr, err, stderr)
		}
	}
}

type liveFile struct{ path, sha256 string }

// liveFiles lists every file of a snapshot with the SHA256 its Release or
// indices give: each index file and each pool file.
func liveFiles(t *testing.T, a *app.App, serial string) []liveFile {
	t.Helper()
	ctx := context.Background()
	snap, err := a.Catalog.Snapshot(ctx, "debian", serial)
	if err != nil {
		t.Fatal(err)
	}
	var out []liveFile
	for _, name := range snap.Suites {
		su, err := a.Catalog.Suite(ctx, snap.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		byPath := map[string]catalog.IndexFile{}
		for _, f := range su.Files {
			byPath[f.Path] = f
			out = append(out, liveFile{"dists/" + name + "/" + f.Path, f.SHA256.String()})
		}
		data, err := index.ReadSuite(ctx, a.Store, byPath, "main/binary-amd64/Packages", 0)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := index.PoolFiles("Packages", data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			out = append(out, liveFile{e.Path, e.SHA256.String()})
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d live files", len(out))
	}
	return out
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within a minute", what)
}

// TestClusterACME: two servers behind one HTTPS name, on one PostgreSQL
// catalog, get one certificate from the real Pebble: the first takes the
// issuance lock and orders it; Pebble validates on the second's ports,
// which answers the challenge from the shared storage; both then present
// the same certificate.
func TestClusterACME(t *testing.T) {
	dsn := pgtest.Start(t)
	up := newUpstream(t)
	up.write(0)
	type srv struct {
		plain, tls net.Listener
		a          *app.App
		cancel     context.CancelFunc
		done       chan error
	}
	var ss [2]*srv
	for i := range ss {
		s := &srv{done: make(chan error, 1)}
		var err error
		if s.plain, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if s.tls, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	port := func(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }
	// Pebble validates on the second server's ports.
	peb := startPebble(t, port(ss[1].plain), port(ss[1].tls))
	var cfgText string
	start := func(s *srv) {
		cfgText = fmt.Sprintf(`
data_dir = %q
public_url = "https://%s"
[catalog]
postgres = %q
[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]
[tls]
listen = %q
[tls.acme]
email = "ops@example.org"
ca = %q
domains = [%q]
ca_root = %q
`, t.TempDir(), acmeDomain, dsn, up.url(), up.keyring, s.tls.Addr(), peb.directory, acmeDomain, peb.serverCA)
		cfg, err := config.Parse([]byte(cfgText))
		if err != nil {
			t.Fatal(err)
		}
		// Errors only: the handshakes before the certificate warn.
		if s.a, err = app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		go func() { s.done <- s.a.ServeListeners(ctx, s.plain, s.tls, false) }()
		t.Cleanup(func() { cancel(); <-s.done; s.a.Close() })
	}
	// The first server orders; once it holds the issuance lock, the
	// second starts, and answers the challenge.
	start(ss[0])
	kv := ss[0].a.Catalog.(catalog.KV)
	waitUntil(t, "the first server holding the issuance lock", func() bool {
		ok, err := kv.KVLock(context.Background(), "acme/issue_cert_"+acmeDomain, "probe", time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			kv.KVUnlock(context.Background(), "acme/issue_cert_"+acmeDomain, "probe")
		}
		return !ok
	})
	start(ss[1])
	leaf := func(s *srv) *x509.Certificate {
		t.Helper()
		var got *x509.Certificate
		waitUntil(t, "a certificate", func() bool {
			conn, err := tls.Dial("tcp", s.tls.Addr().String(), &tls.Config{ServerName: acmeDomain, RootCAs: peb.rootPool})
			if err != nil {
				return false
			}
			defer conn.Close()
			got = conn.ConnectionState().PeerCertificates[0]
			return true
		})
		return got
	}
	a, b := leaf(ss[0]), leaf(ss[1])
	if a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Errorf("the two servers present two certificates (serials %x and %x): issued twice", a.SerialNumber, b.SerialNumber)
	}
	if n := strings.Count(peb.output(), "Issued certificate serial"); n != 1 {
		t.Errorf("Pebble issued %d certificates, want 1", n)
	}
	// cert status reads the shared storage.
	cfgFile := filepath.Join(t.TempDir(), "aptsnap.toml")
	os.WriteFile(cfgFile, []byte(cfgText), 0o644)
	out := (&cli{t: t, bin: aptsnapBinary(t), config: cfgFile}).local("cert", "status")
	if !strings.Contains(out, acmeDomain) || strings.Contains(out, "not obtained yet") {
		t.Errorf("cert status:\n%s", out)
	}
	// Both serve the same signed snapshots over HTTPS.
	if _, err := ss[0].a.Pulse(context.Background(), "debian"); err != nil {
		t.Fatal(err)
	}
	key0, key1 := ss[0].a.Signer.PublicKey(), ss[1].a.Signer.PublicKey()
	if string(key0) != string(key1) {
		t.Error("the two servers sign with two keys")
	}
}

// TestClusterInvalidation: a server hears at once of a change another
// server made (PostgreSQL LISTEN/NOTIFY), well within its cache's
// lifetime: a bump's re-signed Release is served at once.
func TestClusterInvalidation(t *testing.T) {
	dsn := pgtest.Start(t)
	ep := s3test.Start(t)
	up := newUpstream(t)
	up.write(0)
	open := func() *app.App {
		cfg, err := config.Load(clusterConfig(t, dsn, ep, up, "127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	a, b := open(), open()
	snap, err := b.Pulse(context.Background(), "debian")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListeners(ctx, ln, nil, false) }()
	t.Cleanup(func() { cancel(); <-done })
	inRelease := "http://" + ln.Addr().String() + "/debian/" + snap.Serial + "/dists/bookworm/InRelease"
	waitUntil(t, "the snapshot served", func() bool {
		resp, err := http.Get(inRelease)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	before := get(t, inRelease) // now in a's cache
	if _, err := b.Bump(context.Background(), "debian", snap.Serial, 30, false); err != nil {
		t.Fatal(err)
	}
	bumped := time.Now()
	waitUntil(t, "the other server's bump", func() bool { return get(t, inRelease) != before })
	if d := time.Since(bumped); d > time.Second {
		t.Errorf("the other server's bump was served after %s (the cache lives 2 s): no invalidation", d)
	}
}
