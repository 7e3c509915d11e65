package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/internal/pgtest"
	"github.com/aptsnap/aptsnap/internal/s3test"
)

// tcpProxy forwards connections to target until cut: then it drops the
// ones open and refuses new ones, as a network partition would.
type tcpProxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// cut drops every connection and refuses new ones until heal.
func (p *tcpProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) heal() { p.down.Store(false) }

// TestStorageUnreachable: with the S3 store, then the PostgreSQL catalog,
// cut off mid-pulse, the pulse fails with an error naming the part and
// leaves no snapshot; the health endpoint names the degraded part; what
// does not need the lost part is still served; once healed, the next
// pulse succeeds.
func TestStorageUnreachable(t *testing.T) {
	dsn := pgtest.Start(t)
	ep := s3test.Start(t)
	pgHost := dsn[strings.Index(dsn, "@")+1:]
	pgHost = pgHost[:strings.Index(pgHost, "/")]
	pg, s3 := newTCPProxy(t, pgHost), newTCPProxy(t, ep.Host)
	up := newUpstream(t)
	up.write(0, manyPackages(30))
	ep2 := ep
	ep2.URL = "http://" + s3.addr()
	cfg, err := config.Load(clusterConfig(t, strings.Replace(dsn, pgHost, pg.addr(), 1), ep2, up, "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	first, err := a.Pulse(ctx, "debian")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler()}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	health := func() (int, string) {
		resp, err := http.Get(base + app.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	snapshots := func() int {
		snaps, err := a.Catalog.Snapshots(ctx, "debian")
		if err != nil {
			t.Fatal(err)
		}
		return len(snaps)
	}

	for _, tc := range []struct {
		name, part string
		proxy      *tcpProxy
		wantErr    string
		// served still works while the part is cut off.
		served string
	}{
		{"store", "store", s3, "s3", "/debian/" + first.Serial + "/dists/bookworm/InRelease"},
		{"catalog", "catalog", pg, "postgres", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up.write(1+len(tc.name), manyPackages(30+len(tc.name)))
			n := snapshots()
			// Cut off as the pulse downloads its pool files.
			var once sync.Once
			up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "/pool/") {
					once.Do(tc.proxy.cut)
				}
				return false
			})
			start := time.Now()
			_, err := a.Pulse(ctx, "debian")
			up.setFault(nil)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.wantErr) {
				t.Fatalf("a pulse with the %s cut off: %v; want an error naming %q", tc.part, err, tc.wantErr)
			}
			t.Logf("pulse failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
			if code, body := health(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"`+tc.part+`":"unreachable: `) {
				t.Errorf("health with the %s cut off: %d %s", tc.part, code, body)
			}
			if tc.served != "" {
				if code := status(t, base+tc.served); code != 200 {
					t.Errorf("%s with the %s cut off: %d", tc.served, tc.part, code)
				}
			}
			tc.proxy.heal()
			if code, body := health(); code != 200 {
				t.Errorf("health once healed: %d %s", code, body)
			}
			if got := snapshots(); got != n {
				t.Errorf("the failed pulse left %d snapshots, want %d", got, n)
			}
			if _, err := a.Pulse(ctx, "debian"); err != nil {
				t.Fatalf("the pulse once healed: %v", err)
			}
			if res, err := a.Verify(ctx, "", ""); err != nil || len(res.Problems) > 0 {
				t.Errorf("verify: %+v %v", res.Problems, err)
			}
		})
	}
}

func status(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
