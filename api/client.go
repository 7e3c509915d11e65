package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/manifest"
)

// Client calls the admin API of a server. It implements Ops and TokenOps.
type Client struct {
	// BaseURL is the server's URL, for example "https://snapshots.example.org".
	BaseURL string
	// Token is the secret sent as a bearer token (none if empty).
	Token string
	// HTTP is the client used (http.DefaultClient if nil).
	HTTP *http.Client
}

var (
	_ Ops      = (*Client)(nil)
	_ TokenOps = (*Client)(nil)
)

// Error is an error answer of the server. It wraps catalog.ErrNotFound
// (404), ErrInvalid (400), ErrUnauthorized (401), ErrForbidden (403) or
// ErrExists (409), so that errors.Is works on both sides of the API.
type Error struct {
	Status  int
	Message string
}

// Error is the server's message: the same words a local run prints.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel error matching the status, if any.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return catalog.ErrNotFound
	case http.StatusConflict:
		return ErrExists
	case http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	}
	return nil
}

// Snapshots implements Ops.
func (c *Client) Snapshots(ctx context.Context, archive string) ([]Snapshot, error) {
	var out []Snapshot
	path := "snapshots"
	if archive != "" {
		path += "?" + url.Values{"archive": {archive}}.Encode()
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, wrap("snapshots", archive, err)
}

// Bump implements Ops.
func (c *Client) Bump(ctx context.Context, archive, serial string, days int, allowShorten bool) (BumpResult, error) {
	var out BumpResult
	path := "archives/" + url.PathEscape(archive) + "/snapshots/" + url.PathEscape(serial) + "/bump"
	body := map[string]any{"days": days}
	if allowShorten {
		body["allow_shorten"] = true
	}
	err := c.do(ctx, http.MethodPost, path, body, &out)
	return out, wrap("bump", archive+"/"+serial, err)
}

// GC implements Ops.
func (c *Client) GC(ctx context.Context, dryRun bool) (GCResult, error) {
	var out GCResult
	err := c.do(ctx, http.MethodPost, "gc", map[string]bool{"dry_run": dryRun}, &out)
	return out, wrap("gc", "", err)
}

// Untrack implements Ops.
func (c *Client) Untrack(ctx context.Context, archive string, suites []string, dryRun bool) (UntrackResult, error) {
	var out UntrackResult
	body := struct {
		Suites []string `json:"suites"`
		DryRun bool     `json:"dry_run"`
	}{suites, dryRun}
	err := c.do(ctx, http.MethodPost, "archives/"+url.PathEscape(archive)+"/untrack", body, &out)
	return out, wrap("untrack", archive+" "+strings.Join(suites, " "), err)
}

// TagCreate implements Ops.
func (c *Client) TagCreate(ctx context.Context, tag string, from map[string]string, m *manifest.Manifest) ([]Snapshot, error) {
	var out []Snapshot
	err := c.do(ctx, http.MethodPost, "tags", TagRequest{Tag: tag, From: from, Manifest: m}, &out)
	return out, wrap("tag", tag, err)
}

// Tags implements Ops.
func (c *Client) Tags(ctx context.Context) ([]Snapshot, error) {
	var out []Snapshot
	err := c.do(ctx, http.MethodGet, "tags", nil, &out)
	return out, wrap("tags", "", err)
}

// TagDelete implements Ops.
func (c *Client) TagDelete(ctx context.Context, tag string, dryRun bool) (int, error) {
	var out struct {
		Deleted int `json:"deleted"`
	}
	path := "tags/" + url.PathEscape(tag)
	if dryRun {
		path += "?dry_run=1"
	}
	err := c.do(ctx, http.MethodDelete, path, nil, &out)
	return out.Deleted, wrap("tag delete", tag, err)
}

// Expire implements Ops.
func (c *Client) Expire(ctx context.Context, archive, serial string) (Snapshot, error) {
	var out Snapshot
	err := c.do(ctx, http.MethodPost, "archives/"+url.PathEscape(archive)+"/snapshots/"+url.PathEscape(serial)+"/expire", struct{}{}, &out)
	return out, wrap("snapshot expire", archive+"/"+serial, err)
}

// Verify implements Ops.
func (c *Client) Verify(ctx context.Context, archive, serial string) (VerifyResult, error) {
	var out VerifyResult
	q := url.Values{}
	if archive != "" {
		q.Set("archive", archive)
	}
	if serial != "" {
		q.Set("serial", serial)
	}
	path := "verify"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, wrap("verify", strings.Trim(archive+"/"+serial, "/"), err)
}

// CreateToken implements TokenOps.
func (c *Client) CreateToken(ctx context.Context, name string, role catalog.Role) (NewToken, error) {
	var out NewToken
	err := c.do(ctx, http.MethodPost, "tokens", map[string]string{"name": name, "role": string(role)}, &out)
	return out, wrap("token create", name, err)
}

// ListTokens implements TokenOps.
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	var out []Token
	err := c.do(ctx, http.MethodGet, "tokens", nil, &out)
	return out, wrap("token list", "", err)
}

// RevokeToken implements TokenOps.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return wrap("token revoke", name, c.do(ctx, http.MethodDelete, "tokens/"+url.PathEscape(name), nil, nil))
}

// wrap names the operation in an error: "bump debian/2026112301: 404: ...".
func wrap(op, what string, err error) error {
	if err == nil {
		return nil
	}
	if what != "" {
		op += " " + what
	}
	if _, ok := err.(*Error); ok {
		// The server's message names the operation, as a local run's does.
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// needsToken reports whether a call needs the token: every change, and
// reading tokens or verifying. A token is never sent where none is needed
// (it is refused over plain HTTP from the network).
func needsToken(method, path string) bool {
	return method != http.MethodGet || strings.HasPrefix(path, "tokens") || strings.HasPrefix(path, "verify")
}

// do sends a request with a JSON body (if in is not nil) and decodes a JSON
// answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	return c.send(ctx, method, path, body, ctype, out)
}

// send makes one API call with a body of the given content type.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	base, err := url.Parse(strings.TrimSuffix(c.BaseURL, "/") + Prefix)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("server URL %q: want http(s)://HOST[:PORT]", c.BaseURL)
	}
	if c.Token != "" && base.Scheme != "https" && !loopbackHost(base.Hostname()) {
		// Refuse before the secret leaves: the server would refuse it anyway.
		return fmt.Errorf("server URL %q: API tokens need HTTPS or a loopback address", c.BaseURL)
	}
	req, err := http.NewRequestWithContext(ctx, method, base.String()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" && needsToken(method, path) {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		} else if len(msg) > 200 || msg == "" {
			msg = http.StatusText(resp.StatusCode) // not our API (a proxy?): keep it short
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, req.URL.Redacted(), err)
	}
	return nil
}

// loopbackHost reports whether a URL host names this machine.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
