package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Flock is the Locker of processes on one host, with flock(2) on files in
// one directory:
//
//	pulse-<archive>.lock   an archive's writer lock; holds the writer's start time
//	gc.lock                held by a running garbage collection
//	sweep.lock             the sweep lock
//
// The kernel drops a flock when its process dies, so a killed pulse, import
// or GC never leaves a stale lock behind.
type Flock struct{ dir string }

var _ Locker = (*Flock)(nil)

// NewFlock returns the Locker over the lock files in dir (created when
// first needed).
func NewFlock(dir string) *Flock { return &Flock{dir: dir} }

// fileLock is a held flock.
type fileLock struct {
	once sync.Once
	f    *os.File
}

func (l *fileLock) Release() {
	l.once.Do(func() {
		syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
	})
}

func openLockFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// try takes a lock on path without waiting, or returns ErrBusy.
func try(path string, how int) (*fileLock, error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	if err := flock(f, how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &fileLock{f: f}, nil
}

// wait takes a lock on path, waiting for it until ctx ends. A flock that
// is waited for cannot be interrupted: when ctx ends first, the waiting
// goroutine releases the lock as soon as it gets it.
func wait(ctx context.Context, path string, how int) (*fileLock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l, err := try(path, how); !errors.Is(err, ErrBusy) {
		return l, err
	}
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	got := make(chan error, 1)
	go func() { got <- flock(f, how) }()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return &fileLock{f: f}, nil
	case <-ctx.Done():
		go func() {
			if <-got == nil {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			}
			f.Close()
		}()
		return nil, ctx.Err()
	}
}

func (fl *Flock) writerPath(archive string) string {
	return filepath.Join(fl.dir, "pulse-"+archive+".lock")
}

// Writer implements Locker.
func (fl *Flock) Writer(ctx context.Context, archive string, waitFor bool) (Lock, error) {
	var l *fileLock
	var err error
	if waitFor {
		l, err = wait(ctx, fl.writerPath(archive), syscall.LOCK_EX)
	} else {
		l, err = tryWriter(ctx, fl.writerPath(archive))
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, fmt.Errorf("lock: writer lock of %s: given up: %w", archive, err)
	}
	if err != nil {
		return nil, err
	}
	// Real time, not a test's clock: GC compares it with file times.
	if err := l.f.Truncate(0); err == nil {
		l.f.WriteAt([]byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0)
	}
	return l, nil
}

// writerTries and writerRetry bound how long Writer without waiting
// tries: Writers probes a writer lock shared for an instant.
const (
	writerTries = 20
	writerRetry = 10 * time.Millisecond
)

// tryWriter takes the writer lock at path if nobody holds it, trying
// again for as long as Writers might be probing it, until ctx ends.
func tryWriter(ctx context.Context, path string) (*fileLock, error) {
	for i := 1; ; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l, err := try(path, syscall.LOCK_EX)
		if !errors.Is(err, ErrBusy) || i == writerTries {
			return l, err
		}
		t := time.NewTimer(writerRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Sweep implements Locker.
func (fl *Flock) Sweep(ctx context.Context, exclusive bool) (Lock, error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return held(wait(ctx, filepath.Join(fl.dir, "sweep.lock"), how))
}

// GC implements Locker.
func (fl *Flock) GC(ctx context.Context) (Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return held(try(filepath.Join(fl.dir, "gc.lock"), syscall.LOCK_EX))
}

// held returns l as a Lock, a nil one (not a nil *fileLock) on an error.
func held(l *fileLock, err error) (Lock, error) {
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Writers implements Locker.
func (fl *Flock) Writers(ctx context.Context) ([]time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock: looking for running writers: given up: %w", err)
	}
	ents, err := os.ReadDir(fl.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	var out []time.Time
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "pulse-") || !strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		p := filepath.Join(fl.dir, e.Name())
		l, err := try(p, syscall.LOCK_SH)
		if err == nil {
			l.Release() // nobody holds it: no writer running
			continue
		}
		if !errors.Is(err, ErrBusy) {
			return nil, err
		}
		data, _ := os.ReadFile(p)
		t, perr := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
		if perr != nil {
			t = time.Time{} // started, but not yet recorded: protect everything
		}
		out = append(out, t)
	}
	return out, nil
}
