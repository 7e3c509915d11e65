package bench

// The PostgreSQL + S3 side of the in-process benchmarks (issue 15), beside
// the embedded default (SQLite + a local directory). bench/backends.sh
// runs them against the PostgreSQL and VersityGW it starts; by hand:
//
//	APTSNAP_BENCH_PG='postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable' \
//	APTSNAP_BENCH_S3=http://127.0.0.1:7071 APTSNAP_BENCH_S3_BUCKET=aptsnap \
//	APTSNAP_BENCH_S3_CREDENTIALS=FILE \
//	go test -run '^$' -bench 'SnapshotBackends|StoreOps|CatalogRoundTrip' -benchtime 30x ./bench
//
// APTSNAP_BENCH_PG is a connection string to a database of a server on
// which the benchmark may create and drop databases (each sub-benchmark
// gets a new one); APTSNAP_BENCH_S3_CREDENTIALS a file of
// AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... lines, mode 0600
// (what [store] credentials_file takes). Without them the PostgreSQL + S3
// sub-benchmarks are skipped and only the embedded ones run.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/blob/s3"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
	"github.com/aptsnap/aptsnap/storage"
)

// benchBackends is what the environment points the benchmarks at.
type benchBackends struct {
	pg                      string // admin DSN
	s3, bucket, credentials string
}

func backendsFromEnv() (benchBackends, bool) {
	e := benchBackends{pg: os.Getenv("APTSNAP_BENCH_PG"), s3: os.Getenv("APTSNAP_BENCH_S3"),
		bucket: os.Getenv("APTSNAP_BENCH_S3_BUCKET"), credentials: os.Getenv("APTSNAP_BENCH_S3_CREDENTIALS")}
	if e.bucket == "" {
		e.bucket = "aptsnap"
	}
	return e, e.pg != "" && e.s3 != "" && e.credentials != ""
}

// newDatabase creates an empty database on the admin DSN's server,
// dropped when b ends, and returns its DSN.
func (e benchBackends) newDatabase(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.pg)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "bench_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c, err := pgx.Connect(ctx, e.pg)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(e.pg)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// config returns the [catalog] and [store] sections of a new database and
// a new key prefix in the bucket.
func (e benchBackends) config(b *testing.B) string {
	return fmt.Sprintf(`
[catalog]
postgres = %q

[store]
s3_endpoint = %q
s3_bucket = %q
s3_region = "us-east-1"
s3_prefix = %q
credentials_file = %q
`, e.newDatabase(b), e.s3, e.bucket, "bench/"+randomHex(6), e.credentials)
}

func randomHex(n int) string {
	p := make([]byte, n)
	rand.Read(p)
	return hex.EncodeToString(p)
}

// countingStore counts the store requests a pulse makes.
type countingStore struct {
	blob.Store
	stats, puts, opens, reads atomic.Int64
}

func (c *countingStore) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	c.stats.Add(1)
	return c.Store.Stat(ctx, d)
}

func (c *countingStore) Put(ctx context.Context, r io.Reader, d blob.Digest, size int64) (blob.Info, error) {
	c.puts.Add(1)
	return c.Store.Put(ctx, r, d, size)
}

func (c *countingStore) Open(ctx context.Context, d blob.Digest) (io.ReadSeekCloser, blob.Info, error) {
	c.opens.Add(1)
	return c.Store.Open(ctx, d)
}

func (c *countingStore) ReadFile(ctx context.Context, d blob.Digest, buf []byte) ([]byte, error) {
	c.reads.Add(1)
	return c.Store.ReadFile(ctx, d, buf)
}

// BenchmarkSnapshotBackends is BenchmarkSnapshot (a pulse of an unchanged
// upstream: InRelease fetched and verified, every index known, a Release
// signed per suite, the snapshot committed) on each storage setup, and
// reports the store calls per snapshot. APTSNAP_BENCH_SNAPSHOT_PACKAGES
// sets the package counts (default 1000,10000).
func BenchmarkSnapshotBackends(b *testing.B) {
	env, ok := backendsFromEnv()
	counts := os.Getenv("APTSNAP_BENCH_SNAPSHOT_PACKAGES")
	if counts == "" {
		counts = "1000,10000"
	}
	for _, backend := range []string{"embedded", "pg+s3"} {
		for _, c := range strings.Split(counts, ",") {
			var n int
			fmt.Sscan(c, &n)
			b.Run(fmt.Sprintf("backend=%s/packages=%d", backend, n), func(b *testing.B) {
				extra := ""
				if backend == "pg+s3" {
					if !ok {
						b.Skip("APTSNAP_BENCH_PG, APTSNAP_BENCH_S3 and APTSNAP_BENCH_S3_CREDENTIALS not set")
					}
					extra = env.config(b)
				}
				a := setupWith(b, n, extra)
				cs := &countingStore{Store: a.Store}
				a.Store = cs
				now := time.Now()
				a.Now = func() time.Time { return now }
				b.ResetTimer()
				for b.Loop() {
					now = now.Add(time.Hour) // at most 99 serials a day
					if _, err := a.Pulse(context.Background(), "debian"); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cs.stats.Load())/float64(b.N), "stats/op")
				b.ReportMetric(float64(cs.puts.Load())/float64(b.N), "puts/op")
				b.ReportMetric(float64(cs.opens.Load()+cs.reads.Load())/float64(b.N), "reads/op")
			})
		}
	}
}

// setupWith is setup with extra configuration (the [catalog] and [store]
// sections) appended.
func setupWith(b *testing.B, n int, extra string) *app.App {
	b.Helper()
	dir := b.TempDir()
	key, err := pgp.GenerateKey("bench", "bench@example.invalid", "ed25519")
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := pgp.ParseSigner(key)
	pkgs := make([]repogen.Package, n)
	for i := range pkgs {
		pkgs[i] = repogen.Package{Name: fmt.Sprintf("pkg%06d", i), Version: "1.0-1", Arch: "amd64"}
	}
	r := &repogen.Repo{Dir: filepath.Join(dir, "up"), Origin: "Debian", Label: "Debian", Signer: signer, ByHash: true,
		Suites: []repogen.Suite{{Name: "bookworm", Components: map[string][]repogen.Package{"main": pkgs}, Architectures: []string{"amd64"}}}}
	if err := r.Write(); err != nil {
		b.Fatal(err)
	}
	kr := filepath.Join(dir, "keyring.asc")
	os.WriteFile(kr, signer.PublicKey(), 0o644)
	up := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir, "up"))))
	b.Cleanup(up.Close)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`data_dir = %q
[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]
%s`, filepath.Join(dir, "data"), up.URL, kr, extra)))
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	if _, err := a.Pulse(context.Background(), "debian"); err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkStoreOps times one store request at a time, as a pulse makes
// its existence checks (Stat, serially) and each download worker its Put
// of a small pool file (700 bytes, as the fixture's), and as the server
// reads a small file it does not hold in its cache (ReadFile): the local
// directory (with its fsync per Put) against the S3 store.
func BenchmarkStoreOps(b *testing.B) {
	env, _ := backendsFromEnv()
	ok := env.s3 != "" && env.credentials != ""
	for _, backend := range []string{"local", "s3"} {
		b.Run("store="+backend, func(b *testing.B) {
			ctx := context.Background()
			var st blob.Store
			if backend == "local" {
				l, err := local.Open(filepath.Join(b.TempDir(), "blobs"))
				if err != nil {
					b.Fatal(err)
				}
				st = l
			} else {
				if !ok {
					b.Skip("APTSNAP_BENCH_S3 and APTSNAP_BENCH_S3_CREDENTIALS not set")
				}
				access, secret, err := storage.S3Credentials(config.StoreConfig{CredentialsFile: env.credentials})
				if err != nil {
					b.Fatal(err)
				}
				s, err := s3.Open(ctx, s3.Options{Endpoint: env.s3, Region: "us-east-1", Bucket: env.bucket,
					Prefix: "bench/" + randomHex(6), AccessKey: access, SecretKey: secret})
				if err != nil {
					b.Fatal(err)
				}
				st = s
			}
			content := func(i int) []byte {
				p := make([]byte, 700)
				copy(p, fmt.Sprintf("%s %d", b.Name(), i))
				rand.Read(p[64:])
				return p
			}
			var stored []blob.Digest
			b.Run("op=put-700B", func(b *testing.B) {
				i := 0
				for b.Loop() {
					p := content(i)
					i++
					d := blob.Sum(p)
					if _, err := st.Put(ctx, bytes.NewReader(p), d, int64(len(p))); err != nil {
						b.Fatal(err)
					}
					stored = append(stored, d)
				}
			})
			if len(stored) == 0 {
				b.Fatal("nothing stored")
			}
			b.Run("op=stat-hit", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, err := st.Stat(ctx, stored[i%len(stored)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("op=stat-miss", func(b *testing.B) {
				for b.Loop() {
					if _, err := st.Stat(ctx, blob.Sum([]byte(randomHex(8)))); err == nil {
						b.Fatal("found")
					}
				}
			})
			b.Run("op=readfile-700B", func(b *testing.B) {
				buf := make([]byte, 0, 1024)
				i := 0
				for b.Loop() {
					var err error
					if buf, err = st.ReadFile(ctx, stored[i%len(stored)], buf[:0]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

// BenchmarkCatalogRoundTrip is one PostgreSQL round trip (SELECT 1 on an
// open connection): what each catalog query costs at least.
func BenchmarkCatalogRoundTrip(b *testing.B) {
	env, ok := backendsFromEnv()
	if !ok {
		b.Skip("APTSNAP_BENCH_PG not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.pg)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for b.Loop() {
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			b.Fatal(err)
		}
	}
}
