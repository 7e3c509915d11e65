// Package locktest is the conformance suite of lock.Locker: every
// implementation runs Run with two lockers over one installation, as two
// processes (or two servers) would hold them.
package locktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/lock"
)

// Opener returns two lockers over one fresh installation.
type Opener func(t *testing.T) (a, b lock.Locker)

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Opener)
	}{
		{"WriterExcludes", testWriterExcludes},
		{"WriterWaits", testWriterWaits},
		{"Writers", testWriters},
		{"Sweep", testSweep},
		{"SweepWaitEndsWithContext", testSweepContext},
		{"GC", testGC},
		{"CancelledContext", testCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

// within runs f and reports whether it returned within d.
func within(d time.Duration, f func()) (done <-chan struct{}, returned bool) {
	ch := make(chan struct{})
	go func() { f(); close(ch) }()
	select {
	case <-ch:
		return ch, true
	case <-time.After(d):
		return ch, false
	}
}

func testWriterExcludes(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t)
	l, err := a.Writer(ctx, "debian", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Writer(ctx, "debian", false); !errors.Is(err, lock.ErrBusy) {
		t.Fatalf("second writer of debian: %v, want ErrBusy", err)
	}
	other, err := b.Writer(ctx, "ours", false)
	if err != nil {
		t.Fatalf("a writer of another archive: %v", err)
	}
	other.Release()
	l.Release()
	l.Release() // twice is harmless
	l2, err := b.Writer(ctx, "debian", false)
	if err != nil {
		t.Fatalf("writer after release: %v", err)
	}
	l2.Release()
}

func testWriterWaits(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t)
	l, err := a.Writer(ctx, "ours", true)
	if err != nil {
		t.Fatal(err)
	}
	var l2 lock.Lock
	var err2 error
	done, returned := within(300*time.Millisecond, func() { l2, err2 = b.Writer(ctx, "ours", true) })
	if returned {
		t.Fatalf("a waiting writer got the lock while it was held (%v)", err2)
	}
	l.Release()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting writer did not get the lock once released")
	}
	if err2 != nil {
		t.Fatal(err2)
	}
	l2.Release()
}

func testWriters(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t)
	if got, err := b.Writers(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Writers with none running = %v, %v", got, err)
	}
	before := time.Now().Add(-time.Second)
	l1, err := a.Writer(ctx, "debian", false)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := a.Writer(ctx, "ours", true)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	got, err := b.Writers(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("Writers = %v, %v; want two", got, err)
	}
	for _, s := range got {
		if s.Before(before) || s.After(after) {
			t.Errorf("a writer's start %s is not when it took its lock (between %s and %s)", s, before, after)
		}
	}
	l1.Release()
	if got, _ := b.Writers(ctx); len(got) != 1 {
		t.Errorf("Writers after one released = %v", got)
	}
	l2.Release()
	if got, _ := b.Writers(ctx); len(got) != 0 {
		t.Errorf("Writers after both released = %v", got)
	}
}

func testSweep(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t)
	s1, err := a.Sweep(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.Sweep(ctx, false)
	if err != nil {
		t.Fatalf("two shared holders: %v", err)
	}
	var x lock.Lock
	done, returned := within(300*time.Millisecond, func() { x, err = b.Sweep(ctx, true) })
	if returned {
		t.Fatal("the exclusive sweep lock was taken while shared holders held it")
	}
	s1.Release()
	s2.Release()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the exclusive sweep lock was not taken once the shared holders left")
	}
	if err != nil {
		t.Fatal(err)
	}
	_, returned = within(300*time.Millisecond, func() {
		if l, err := a.Sweep(ctx, false); err == nil {
			l.Release()
		}
	})
	if returned {
		t.Fatal("a shared sweep lock was taken while GC held it exclusively")
	}
	x.Release()
}

func testSweepContext(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t)
	x, err := a.Sweep(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	done, returned := within(5*time.Second, func() { _, err = b.Sweep(short, false) })
	<-done
	if !returned || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait whose context ended: %v, want context.DeadlineExceeded", err)
	}
	x.Release()
	// The abandoned wait does not keep the lock.
	_, returned = within(5*time.Second, func() {
		l, err := b.Sweep(ctx, true)
		if err == nil {
			l.Release()
		}
	})
	if !returned {
		t.Fatal("an abandoned wait kept the sweep lock")
	}
}

func testGC(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t)
	g, err := a.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GC(ctx); !errors.Is(err, lock.ErrBusy) {
		t.Fatalf("second GC: %v, want ErrBusy", err)
	}
	g.Release()
	g2, err := b.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g2.Release()
}

// testCancelled: with its context already ended, every call returns the
// context's error, holding nothing, whether or not the lock is free.
func testCancelled(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		// held is taken first, with a live context, if not nil.
		held func(ctx context.Context, l lock.Locker) (lock.Lock, error)
		call func(ctx context.Context, l lock.Locker) (lock.Lock, error)
	}{
		{name: "Writer, free", call: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.Writer(ctx, "debian", false) }},
		{name: "Writer, held",
			held: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.Writer(ctx, "debian", false) },
			call: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.Writer(ctx, "debian", false) }},
		{name: "Writer waiting, free", call: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.Writer(ctx, "debian", true) }},
		{name: "Writer waiting, held",
			held: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.Writer(ctx, "debian", false) },
			call: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.Writer(ctx, "debian", true) }},
		{name: "Writers", call: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { _, err := l.Writers(ctx); return nil, err }},
		{name: "Writers, one running",
			held: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.Writer(ctx, "debian", false) },
			call: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { _, err := l.Writers(ctx); return nil, err }},
		{name: "Sweep", call: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.Sweep(ctx, true) }},
		{name: "GC", call: func(ctx context.Context, l lock.Locker) (lock.Lock, error) { return l.GC(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			if tc.held != nil {
				h, err := tc.held(context.Background(), a)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Release()
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var l lock.Lock
			var err error
			if _, returned := within(5*time.Second, func() { l, err = tc.call(ctx, b) }); !returned {
				t.Fatal("a call with its context ended did not return")
			}
			if !errors.Is(err, context.Canceled) || l != nil {
				if l != nil {
					l.Release()
				}
				t.Fatalf("with its context ended: %v (lock %v), want context.Canceled and no lock", err, l)
			}
			if tc.held != nil {
				return
			}
			// Nothing was left held.
			for _, take := range []func() (lock.Lock, error){
				func() (lock.Lock, error) { return a.Writer(context.Background(), "debian", false) },
				func() (lock.Lock, error) { return a.Sweep(context.Background(), true) },
				func() (lock.Lock, error) { return a.GC(context.Background()) },
			} {
				got, err := take()
				if err != nil {
					t.Fatalf("after a call with its context ended: %v", err)
				}
				got.Release()
			}
		})
	}
}
