package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrStalled marks a download, or a whole pulse, that made too little
// progress: no response or no byte for the stall timeout, less than the
// minimum rate over it, or a pulse over its deadline.
var ErrStalled = errors.New("upstream stalled")

// Timeouts bound what a slow upstream can take of a pulse. Zero fields
// take the defaults (DefaultTimeouts), sized for a first mirror of all of
// Debian over an ordinary link.
type Timeouts struct {
	// Connect bounds establishing a connection (TCP and TLS).
	Connect time.Duration
	// Stall is how long a download may wait for the response's headers,
	// or for its next byte, and the window MinRate is measured over.
	Stall time.Duration
	// MinRate is the least a download must average over Stall, in bytes
	// per second.
	MinRate int64
	// Pulse bounds a whole pulse.
	Pulse time.Duration
}

// DefaultTimeouts are the Timeouts used for fields left zero.
var DefaultTimeouts = Timeouts{Connect: 30 * time.Second, Stall: 2 * time.Minute, MinRate: 4 << 10, Pulse: 12 * time.Hour}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts
	if t.Connect > 0 {
		d.Connect = t.Connect
	}
	if t.Stall > 0 {
		d.Stall = t.Stall
	}
	if t.MinRate > 0 {
		d.MinRate = t.MinRate
	}
	if t.Pulse > 0 {
		d.Pulse = t.Pulse
	}
	return d
}

// newClient is the HTTP client of pulses: bounded connects, redirects to
// http and https only (and never from https to http, as APT), no overall
// timeout: the watchdog of each download takes its place, so a large file
// on a slow but steady link is fine.
func newClient(t Timeouts, parallel int) *http.Client {
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   t.Connect,
			ResponseHeaderTimeout: 2 * t.Stall, // a backstop: the watchdog comes first
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   parallel,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: checkRedirect,
	}
}

var errBadRedirect = errors.New("refusing a redirect")

// checkRedirect follows at most 10 redirects, to http or https, never
// from https to http.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("%w: more than 10 redirects", errBadRedirect)
	}
	switch s := req.URL.Scheme; {
	case s != "http" && s != "https":
		return fmt.Errorf("%w to %s: only http and https are followed", errBadRedirect, req.URL.Redacted())
	case s == "http" && via[len(via)-1].URL.Scheme == "https":
		return fmt.Errorf("%w from https to %s (APT refuses it too)", errBadRedirect, req.URL.Redacted())
	}
	return nil
}

// watchdog cancels a download that makes too little progress.
type watchdog struct {
	t      Timeouts
	cancel context.CancelCauseFunc
	url    string
	stop   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	last     time.Time // last progress
	winStart time.Time
	winBytes int64
}

// watch returns a context for one download from url and its watchdog,
// which cancels the context (cause ErrStalled) when no response or no byte
// comes for t.Stall, or less than t.MinRate comes over it. Call done when
// the download ends.
func watch(ctx context.Context, t Timeouts, url string) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	now := time.Now()
	w := &watchdog{t: t, cancel: cancel, url: url, last: now, winStart: now, stop: make(chan struct{})}
	go w.run()
	return ctx, w
}

func (w *watchdog) run() {
	tick := time.NewTicker(max(w.t.Stall/8, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-tick.C:
			if err := w.check(now); err != nil {
				w.cancel(err)
				return
			}
		}
	}
}

func (w *watchdog) check(now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.last) >= w.t.Stall {
		return fmt.Errorf("GET %s: %w: nothing for %s", w.url, ErrStalled, w.t.Stall)
	}
	if elapsed := now.Sub(w.winStart); elapsed >= w.t.Stall {
		if rate := float64(w.winBytes) / elapsed.Seconds(); rate < float64(w.t.MinRate) {
			return fmt.Errorf("GET %s: %w: %.0f bytes/s over %s, under the minimum of %d", w.url, ErrStalled, rate, w.t.Stall, w.t.MinRate)
		}
		w.winStart, w.winBytes = now, 0
	}
	return nil
}

// progress records n bytes received (0 for the response's headers, which
// start the rate's window).
func (w *watchdog) progress(n int) {
	w.mu.Lock()
	now := time.Now()
	w.last = now
	if n == 0 {
		w.winStart, w.winBytes = now, 0
	}
	w.winBytes += int64(n)
	w.mu.Unlock()
}

// done stops the watchdog and releases the download's context.
func (w *watchdog) done() {
	w.once.Do(func() {
		close(w.stop)
		w.cancel(nil)
	})
}

// watchedBody feeds a response body's progress to its watchdog and stops
// it when closed.
type watchedBody struct {
	io.ReadCloser
	w   *watchdog
	ctx context.Context
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.progress(n)
	}
	if err != nil && err != io.EOF {
		err = stalled(b.ctx, err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	b.w.done()
	return err
}

// stalled returns the watchdog's verdict in place of the error it caused.
func stalled(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
		return cause
	}
	return err
}
