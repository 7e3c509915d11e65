package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aptsnap/aptsnap/blob"
)

// errNotFound marks an upstream 404/410.
var errNotFound = errors.New("not found upstream")

// httpError is an unexpected upstream status.
type httpError struct {
	url    string
	status string
	code   int
}

func (e *httpError) Error() string { return fmt.Sprintf("GET %s: %s", e.url, e.status) }

// retryable reports whether trying again may help.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errNotFound) ||
		errors.Is(err, errBadRedirect) || localStorage(err) {
		return false
	}
	var he *httpError
	if errors.As(err, &he) {
		return he.code >= 500 || he.code == http.StatusTooManyRequests
	}
	return true // network errors, truncated bodies, checksum mismatches
}

// get fetches url under a watchdog (see Timeouts); the caller closes the
// body of the response it gets.
func (m *Mirror) get(ctx context.Context, url string) (*http.Response, error) {
	ctx, w := watch(ctx, m.timeouts, url)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		w.done()
		return nil, err
	}
	req.Header.Set("User-Agent", "aptsnap")
	start := time.Now()
	resp, err := m.client.Do(req)
	if err != nil {
		w.done()
		m.log.Debug("upstream request failed", "url", url, "err", err)
		return nil, stalled(ctx, err)
	}
	m.log.Debug("upstream request", "url", url, "status", resp.StatusCode, "length", resp.ContentLength, "took", time.Since(start).Round(time.Millisecond))
	w.progress(0)
	switch {
	case resp.StatusCode == http.StatusOK:
		resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, ctx: ctx}
		return resp, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		w.done()
		return nil, fmt.Errorf("GET %s: %w", url, errNotFound)
	default:
		resp.Body.Close()
		w.done()
		return nil, &httpError{url: url, status: resp.Status, code: resp.StatusCode}
	}
}

// fetchBytes downloads a small file (at most limit bytes) into memory.
func (m *Mirror) fetchBytes(ctx context.Context, url string, limit int64) ([]byte, error) {
	return withRetry(ctx, m.retries, func() ([]byte, error) {
		resp, err := m.get(ctx, url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		if int64(len(data)) > limit {
			return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
		}
		return data, nil
	})
}

// fetchBlob downloads url into the store, checking size and SHA-256.
func (m *Mirror) fetchBlob(ctx context.Context, url string, want blob.Digest, size int64) error {
	_, err := withRetry(ctx, m.retries, func() (struct{}, error) {
		resp, err := m.get(ctx, url)
		if err != nil {
			return struct{}{}, err
		}
		defer resp.Body.Close()
		if resp.ContentLength >= 0 && size >= 0 && resp.ContentLength != size {
			return struct{}{}, fmt.Errorf("GET %s: %w: Content-Length %d, expected size %d", url, blob.ErrMismatch, resp.ContentLength, size)
		}
		if _, err := m.store.Put(ctx, resp.Body, want, size); err != nil {
			return struct{}{}, fmt.Errorf("GET %s: %w", url, err)
		}
		return struct{}{}, nil
	})
	return err
}

func withRetry[T any](ctx context.Context, attempts int, f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	delay := 200 * time.Millisecond
	for i := 0; i < max(attempts, 1); i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return v, ctx.Err()
			case <-time.After(delay):
			}
			delay *= 3
		}
		v, err = f()
		if err == nil || !retryable(err) {
			return v, err
		}
	}
	return v, err
}
