package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLog: off a terminal, a task's progress is a log line every
// interval, with counts, the rate and the time left; none after Finish.
func TestLog(t *testing.T) {
	var buf syncBuffer
	l := &Log{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Every: 20 * time.Millisecond}
	task := l.Start("debian", 10, 10_000_000)
	task.Add(5, 5_000_000)
	time.Sleep(70 * time.Millisecond)
	task.Finish()
	time.Sleep(10 * time.Millisecond)
	n := strings.Count(buf.String(), "msg=downloading")
	if n < 2 {
		t.Fatalf("%d progress lines in 70 ms at one per 20 ms:\n%s", n, buf.String())
	}
	line := strings.SplitN(buf.String(), "\n", 2)[0]
	for _, want := range []string{"archive=debian", "files=5/10", "bytes=\"5.0 MB/10.0 MB\"", "rate=", "left="} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line lacks %q: %s", want, line)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if m := strings.Count(buf.String(), "msg=downloading"); m > n+1 {
		t.Errorf("progress logged after Finish: %d lines, then %d", n, m)
	}
}

// TestBarETA: the bar shows the time left.
func TestBarETA(t *testing.T) {
	var buf bytes.Buffer
	b := &Bar{w: &buf}
	task := b.Start("debian", 4, 4000)
	task.Add(2, 2000)
	task.Finish()
	if !strings.Contains(buf.String(), "ETA ") || !strings.Contains(buf.String(), "2/4 files") {
		t.Errorf("bar: %q", buf.String())
	}
	if got := ETA(0); got != "ETA ?" {
		t.Errorf("ETA(0) = %q", got)
	}
	if got := ETA(192 * time.Second); got != "ETA 3m12s" {
		t.Errorf("ETA = %q", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the ticker goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
