// Package progress reports the progress of long CLI work: a bar on a
// terminal, nothing (structured logs carry the story) elsewhere.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Reporter receives the progress of one piece of work.
type Reporter interface {
	// Start announces the work: a label and the total count and bytes.
	Start(label string, files int, bytes int64)
	// Add records files and bytes done.
	Add(files int, bytes int64)
	// Finish ends the work.
	Finish()
}

// Discard ignores everything.
type Discard struct{}

// Start implements Reporter.
func (Discard) Start(string, int, int64) {}

// Add implements Reporter.
func (Discard) Add(int, int64) {}

// Finish implements Reporter.
func (Discard) Finish() {}

// Bar draws a progress bar on a terminal, at most ten times a second.
type Bar struct {
	w      io.Writer
	mu     sync.Mutex
	label  string
	total  int
	totalB int64
	files  atomic.Int64
	bytes  atomic.Int64
	start  time.Time
	last   time.Time
}

// ForTerminal returns a Bar on f when f is a terminal, Discard otherwise.
func ForTerminal(f *os.File) Reporter {
	if term.IsTerminal(int(f.Fd())) {
		return &Bar{w: f}
	}
	return Discard{}
}

// Start implements Reporter.
func (b *Bar) Start(label string, files int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.label, b.total, b.totalB = label, files, bytes
	b.files.Store(0)
	b.bytes.Store(0)
	b.start = time.Now()
	b.draw(true)
}

// Add implements Reporter.
func (b *Bar) Add(files int, bytes int64) {
	b.files.Add(int64(files))
	b.bytes.Add(bytes)
	b.mu.Lock()
	b.draw(false)
	b.mu.Unlock()
}

// Finish implements Reporter.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
	fmt.Fprintln(b.w)
}

func (b *Bar) draw(force bool) {
	now := time.Now()
	if !force && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	done := b.files.Load()
	frac := 1.0
	if b.total > 0 {
		frac = float64(done) / float64(b.total)
	}
	const width = 30
	n := int(frac * width)
	rate := float64(b.bytes.Load()) / max(now.Sub(b.start).Seconds(), 0.001)
	fmt.Fprintf(b.w, "\r%-20s [%s%s] %d/%d files  %s/%s  %s/s ", b.label,
		strings.Repeat("#", n), strings.Repeat(" ", width-n), done, b.total,
		Bytes(b.bytes.Load()), Bytes(b.totalB), Bytes(int64(rate)))
}

// Bytes formats n bytes for people: "12.3 MB".
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
