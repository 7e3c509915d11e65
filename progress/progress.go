// Package progress reports the progress of long work (a pulse's
// downloads): a bar on a terminal, a log line every so often elsewhere
// (under serve, systemd or CI, where a first mirror of Debian takes
// hours), each with the rate and the time left.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Reporter receives the progress of pieces of work, several at once.
type Reporter interface {
	// Start announces a piece of work: a label and the total count and
	// bytes.
	Start(label string, files int, bytes int64) Task
}

// Task is one piece of work under way.
type Task interface {
	// Add records files and bytes done.
	Add(files int, bytes int64)
	// Finish ends the work.
	Finish()
}

// Discard ignores everything.
type Discard struct{}

// Start implements Reporter.
func (Discard) Start(string, int, int64) Task { return discarded{} }

type discarded struct{}

func (discarded) Add(int, int64) {}
func (discarded) Finish()        {}

// For returns a Bar on f when f is a terminal, else a Log on log every
// interval.
func For(f *os.File, log *slog.Logger, interval time.Duration) Reporter {
	if term.IsTerminal(int(f.Fd())) {
		return &Bar{w: f}
	}
	return &Log{Logger: log, Every: interval}
}

// counts is what a task has done, and its totals.
type counts struct {
	label  string
	total  int
	totalB int64
	start  time.Time
	files  atomic.Int64
	bytes  atomic.Int64
}

// rate is the bytes per second so far, and the time left at that rate
// (0 when unknown).
func (c *counts) rate(now time.Time) (perSec float64, left time.Duration) {
	done := c.bytes.Load()
	perSec = float64(done) / max(now.Sub(c.start).Seconds(), 0.001)
	if perSec > 0 && c.totalB > done {
		left = time.Duration(float64(c.totalB-done) / perSec * float64(time.Second))
	}
	return perSec, left
}

// ETA formats the time left: "ETA 3m12s", "ETA ?" when unknown.
func ETA(left time.Duration) string {
	if left <= 0 {
		return "ETA ?"
	}
	return "ETA " + left.Round(time.Second).String()
}

// Bar draws a progress bar on a terminal, at most ten times a second, for
// one task at a time (the CLI pulses one archive after the other).
type Bar struct {
	w    io.Writer
	mu   sync.Mutex
	last time.Time
}

// Start implements Reporter.
func (b *Bar) Start(label string, files int, bytes int64) Task {
	t := &barTask{b: b, c: &counts{label: label, total: files, totalB: bytes, start: time.Now()}}
	b.mu.Lock()
	t.draw(true)
	b.mu.Unlock()
	return t
}

type barTask struct {
	b *Bar
	c *counts
}

func (t *barTask) Add(files int, bytes int64) {
	t.c.files.Add(int64(files))
	t.c.bytes.Add(bytes)
	t.b.mu.Lock()
	t.draw(false)
	t.b.mu.Unlock()
}

func (t *barTask) Finish() {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	t.draw(true)
	fmt.Fprintln(t.b.w)
}

func (t *barTask) draw(force bool) {
	now := time.Now()
	if !force && now.Sub(t.b.last) < 100*time.Millisecond {
		return
	}
	t.b.last = now
	c := t.c
	done := c.files.Load()
	frac := 1.0
	if c.total > 0 {
		frac = float64(done) / float64(c.total)
	}
	const width = 30
	n := int(frac * width)
	perSec, left := c.rate(now)
	fmt.Fprintf(t.b.w, "\r%-20s [%s%s] %d/%d files  %s/%s  %s/s  %s ", c.label,
		strings.Repeat("#", n), strings.Repeat(" ", width-n), done, c.total,
		Bytes(c.bytes.Load()), Bytes(c.totalB), Bytes(int64(perSec)), ETA(left))
}

// Log logs the progress of every task under way every Every (30 s when
// zero): files and bytes done of the totals, the rate and the time left.
type Log struct {
	Logger *slog.Logger
	Every  time.Duration
	// now is the clock (time.Now if nil); for tests.
	now func() time.Time
}

// Start implements Reporter.
func (l *Log) Start(label string, files int, bytes int64) Task {
	every := l.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	t := &logTask{l: l, c: &counts{label: label, total: files, totalB: bytes, start: l.clock()}, done: make(chan struct{})}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-t.done:
				return
			case <-tick.C:
				t.log("downloading")
			}
		}
	}()
	return t
}

func (l *Log) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

type logTask struct {
	l    *Log
	c    *counts
	once sync.Once
	done chan struct{}
}

func (t *logTask) Add(files int, bytes int64) {
	t.c.files.Add(int64(files))
	t.c.bytes.Add(bytes)
}

func (t *logTask) Finish() { t.once.Do(func() { close(t.done) }) }

func (t *logTask) log(msg string) {
	c := t.c
	perSec, left := c.rate(t.l.clock())
	t.l.Logger.Info(msg, "archive", c.label,
		"files", fmt.Sprintf("%d/%d", c.files.Load(), c.total),
		"bytes", Bytes(c.bytes.Load())+"/"+Bytes(c.totalB),
		"rate", Bytes(int64(perSec))+"/s", "left", strings.TrimPrefix(ETA(left), "ETA "))
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
