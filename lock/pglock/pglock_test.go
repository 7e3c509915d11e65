package pglock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/internal/pgtest"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/lock/locktest"
)

// newLocker returns a Locker on dsn with a short heartbeat, closed when t
// ends.
func newLocker(t *testing.T, dsn string) *Locker {
	t.Helper()
	l, err := New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	l.Heartbeat = 100 * time.Millisecond
	t.Cleanup(l.Close)
	return l
}

func TestConformance(t *testing.T) {
	locktest.Run(t, func(t *testing.T) (a, b lock.Locker) {
		dsn := pgtest.Start(t)
		return newLocker(t, dsn), newLocker(t, dsn)
	})
}

// kinds are the locks a holder can take, with how another one checks
// whether it is free: free says whether it could take it (releasing it
// at once), within a short wait for those that wait.
var kinds = []struct {
	name string
	take func(ctx context.Context, l *Locker) (lock.Lock, error)
}{
	{"writer", func(ctx context.Context, l *Locker) (lock.Lock, error) { return l.Writer(ctx, "debian", false) }},
	{"sweep", func(ctx context.Context, l *Locker) (lock.Lock, error) { return l.Sweep(ctx, true) }},
	{"gc", func(ctx context.Context, l *Locker) (lock.Lock, error) { return l.GC(ctx) }},
	{"leader", func(ctx context.Context, l *Locker) (lock.Lock, error) { return l.Leader(ctx) }},
}

func free(t *testing.T, l *Locker, kind string) bool {
	t.Helper()
	for _, k := range kinds {
		if k.name != kind {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		got, err := k.take(ctx, l)
		switch {
		case err == nil:
			got.Release()
			return true
		case errors.Is(err, lock.ErrBusy) || errors.Is(err, context.DeadlineExceeded):
			return false
		default:
			t.Fatalf("%s lock: %v", kind, err)
		}
	}
	t.Fatalf("no lock %s", kind)
	return false
}

// eventually waits up to d for cond.
func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// TestHelperProcess is the process TestHolderDies kills: it takes the
// lock PGLOCK_HELPER names, says so, and holds it until killed.
func TestHelperProcess(t *testing.T) {
	kind, dsn := os.Getenv("PGLOCK_HELPER"), os.Getenv("PGLOCK_HELPER_DSN")
	if kind == "" {
		t.Skip("only run by TestHolderDies")
	}
	l, err := New(context.Background(), dsn)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for _, k := range kinds {
		if k.name == kind {
			if _, err := k.take(context.Background(), l); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			fmt.Println("held")
			select {}
		}
	}
	fmt.Println("error: no lock", kind)
	os.Exit(1)
}

// TestHolderDies: a lock whose holder's process is killed (SIGKILL: no
// Release) is free again at once, and a dead writer is not reported.
func TestHolderDies(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			dsn := pgtest.Start(t)
			other := newLocker(t, dsn)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), "PGLOCK_HELPER="+k.name, "PGLOCK_HELPER_DSN="+dsn)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			line, _ := bufio.NewReader(out).ReadString('\n')
			if strings.TrimSpace(line) != "held" {
				t.Fatalf("the helper says %q", line)
			}
			if free(t, other, k.name) {
				t.Fatal("a lock another process holds was taken")
			}
			if w, err := other.Writers(context.Background()); err != nil || (k.name == "writer") != (len(w) == 1) {
				t.Errorf("Writers while the helper holds a %s lock = %v, %v", k.name, w, err)
			}
			cmd.Process.Kill()
			cmd.Wait()
			if !eventually(5*time.Second, func() bool { return free(t, other, k.name) }) {
				t.Fatal("the lock of a killed process was not released")
			}
			if w, err := other.Writers(context.Background()); err != nil || len(w) != 0 {
				t.Errorf("Writers after the writer was killed = %v, %v", w, err)
			}
		})
	}
}

// lockPID returns the backend PID holding the fixed lock key.
func lockPID(t *testing.T, dsn string, key int32) int32 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid int32
	if err := conn.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2`, int64(fixedClass), int64(key)).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestLeader: one leader at a time; when it ends, by release or because
// its session ended (its connection cut), a waiting one takes over, and
// a leader whose session ended hears of it on Lost.
func TestLeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, dsn string, l *Lock)
		lost bool // whether the old leader's Lost is closed
	}{
		{name: "released", end: func(t *testing.T, dsn string, l *Lock) { l.Release() }},
		{name: "session terminated", lost: true, end: func(t *testing.T, dsn string, l *Lock) {
			pgtest.Terminate(t, dsn, lockPID(t, dsn, leaderKey))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := pgtest.Start(t)
			a, b := newLocker(t, dsn), newLocker(t, dsn)
			first, err := a.Leader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Release()
			var second *Lock
			var err2 error
			var wg sync.WaitGroup
			wg.Go(func() { second, err2 = b.Leader(ctx) })
			time.Sleep(300 * time.Millisecond)
			if second != nil {
				t.Fatal("two leaders at once")
			}
			tc.end(t, dsn, first)
			wg.Wait()
			if err2 != nil {
				t.Fatalf("the next leader: %v", err2)
			}
			defer second.Release()
			select {
			case <-first.Lost():
				if !tc.lost {
					t.Error("Lost closed after Release")
				}
			case <-time.After(time.Second):
				if tc.lost {
					t.Error("a leader whose session ended did not hear of it")
				}
			}
			select {
			case <-second.Lost():
				t.Error("the new leader lost its lease")
			default:
			}
		})
	}
	t.Run("given up", func(t *testing.T) {
		dsn := pgtest.Start(t)
		a, b := newLocker(t, dsn), newLocker(t, dsn)
		held, err := a.Leader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := b.Leader(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a wait for leadership given up: %v", err)
		}
		held.Release()
		if !free(t, a, "leader") {
			t.Error("an abandoned wait kept the lease")
		}
	})
}

// TestSetupAtOnce: servers starting at once set the table up once.
func TestSetupAtOnce(t *testing.T) {
	dsn := pgtest.Start(t)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			l, err := New(context.Background(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			w, err := l.Writer(context.Background(), "debian", true)
			if err != nil {
				t.Error(err)
			} else {
				w.Release()
			}
			l.Close()
		})
	}
	wg.Wait()
}

func TestNoPasswordInErrors(t *testing.T) {
	pgtest.NoPasswordInErrors(t, func(dsn string) (func(), error) {
		l, err := New(context.Background(), dsn)
		if err != nil {
			return nil, err
		}
		return l.Close, nil
	})
}
