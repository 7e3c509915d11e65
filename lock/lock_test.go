package lock

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestPulseLockAndRunningPulses(t *testing.T) {
	dir := t.TempDir()
	if got, err := RunningPulses(dir); err != nil || len(got) != 0 {
		t.Fatalf("RunningPulses on an empty dir = %v, %v", got, err)
	}
	started := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l, err := Pulse(dir, "debian", started)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Pulse(dir, "debian", started); !errors.Is(err, ErrBusy) {
		t.Fatalf("second pulse lock: %v, want ErrBusy", err)
	}
	got, err := RunningPulses(dir)
	if err != nil || len(got) != 1 || !got[0].Equal(started) {
		t.Fatalf("RunningPulses = %v, %v; want [%s]", got, err, started)
	}
	l.Release()
	if got, _ := RunningPulses(dir); len(got) != 0 {
		t.Fatalf("after release: %v", got)
	}
	if _, err := Pulse(dir, "debian", started); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
}

func TestExclusiveShared(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sweep.lock")
	s1, err := Shared(p)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Shared(p)
	if err != nil {
		t.Fatalf("two shared holders: %v", err)
	}
	if _, err := TryExclusive(p); !errors.Is(err, ErrBusy) {
		t.Fatalf("exclusive while shared: %v", err)
	}
	s1.Release()
	s2.Release()
	x, err := TryExclusive(p)
	if err != nil {
		t.Fatal(err)
	}
	x.Release()
}
