// Package lock holds the inter-process locks that keep pulses and garbage
// collection of one data directory out of each other's way:
//
//	locks/pulse-<archive>.lock   held by a running pulse of that archive; holds its start time
//	locks/gc.lock                held by a running garbage collection
//	locks/sweep.lock             held exclusively while GC deletes stored files,
//	                             shared while a pulse checks and commits what it references
//
// They are flock(2) locks: the kernel drops them when a process dies, so a
// killed pulse or GC never leaves a stale lock behind.
package lock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrBusy is returned by the Try functions when another process holds the lock.
var ErrBusy = errors.New("lock: busy")

// Lock is a held lock.
type Lock struct{ f *os.File }

// Release drops the lock.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}

func take(path string, how int) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Exclusive waits for and takes an exclusive lock on path.
func Exclusive(path string) (*Lock, error) { return take(path, syscall.LOCK_EX) }

// Shared waits for and takes a shared lock on path.
func Shared(path string) (*Lock, error) { return take(path, syscall.LOCK_SH) }

// TryExclusive takes an exclusive lock on path or returns ErrBusy.
func TryExclusive(path string) (*Lock, error) { return take(path, syscall.LOCK_EX|syscall.LOCK_NB) }

// Pulse takes the pulse lock of an archive in dir, or returns ErrBusy,
// and records the pulse's start time in it for garbage collection.
func Pulse(dir, archive string, started time.Time) (*Lock, error) {
	var l *Lock
	var err error
	// RunningPulses probes with a shared lock for an instant: try a few times.
	for i := 0; i < 20; i++ {
		if l, err = TryExclusive(filepath.Join(dir, "pulse-"+archive+".lock")); !errors.Is(err, ErrBusy) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	if err := l.f.Truncate(0); err == nil {
		l.f.WriteAt([]byte(started.UTC().Format(time.RFC3339Nano)+"\n"), 0)
	}
	return l, nil
}

// RunningPulses returns the start times of the pulses running now on dir.
func RunningPulses(dir string) ([]time.Time, error) {
	ents, err := os.ReadDir(dir)
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
		p := filepath.Join(dir, e.Name())
		l, err := take(p, syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			l.Release() // nobody holds it: no pulse running
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
