package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/sqlite"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/manifest"
)

// fakeOps records the calls it gets and answers canned results.
type fakeOps struct {
	mu    sync.Mutex
	calls []string
	snaps []Snapshot
	onAdd func(AddRequest) // sees an import before it runs
}

func (f *fakeOps) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeOps) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeOps) find(archive, serial string) (Snapshot, error) {
	for _, s := range f.snaps {
		if s.Archive == archive && s.Serial == serial {
			return s, nil
		}
	}
	return Snapshot{}, errdefs.Errorf(catalog.ErrNotFound, "no snapshot %s of %s", serial, archive) // as the catalog says it
}

func (f *fakeOps) Snapshots(_ context.Context, archive string) ([]Snapshot, error) {
	f.record("snapshots %s", archive)
	var out []Snapshot
	for _, s := range f.snaps {
		if archive == "" || s.Archive == archive {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeOps) Bump(_ context.Context, archive, serial string, days int, _ bool) (BumpResult, error) {
	f.record("bump %s %s %d", archive, serial, days)
	s, err := f.find(archive, serial)
	if err != nil {
		return BumpResult{}, fmt.Errorf("bump %s/%s: %w", archive, serial, err) // as app.App says it
	}
	prev := s.ValidUntil
	s.ValidUntil = s.Created.AddDate(0, 0, days)
	return BumpResult{Snapshot: s, Previous: prev}, nil
}

func (f *fakeOps) GC(_ context.Context, dryRun bool) (GCResult, error) {
	f.record("gc %v", dryRun)
	return GCResult{DryRun: dryRun, Expired: f.snaps[:1], Files: 3, Bytes: 4096, Kept: 7}, nil
}

func (f *fakeOps) Untrack(_ context.Context, archive string, suites []string, dryRun bool) (UntrackResult, error) {
	f.record("untrack %s %s dry=%v", archive, strings.Join(suites, " "), dryRun)
	if archive != "debian" {
		return UntrackResult{}, fmt.Errorf("%w: archive %s", catalog.ErrNotFound, archive)
	}
	return UntrackResult{DryRun: dryRun, Archive: archive, Suites: suites, Snapshots: 2}, nil
}

func (f *fakeOps) Expire(_ context.Context, archive, serial string) (Snapshot, error) {
	f.record("expire %s %s", archive, serial)
	return f.find(archive, serial)
}

func (f *fakeOps) TagCreate(_ context.Context, tag string, from map[string]string, m *manifest.Manifest) ([]Snapshot, error) {
	f.record("tag %s %v %v", tag, from, m != nil)
	return []Snapshot{{Archive: "debian", Serial: "@" + tag}}, nil
}

func (f *fakeOps) Tags(_ context.Context) ([]Snapshot, error) {
	return []Snapshot{{Archive: "debian", Serial: "@6.1"}}, nil
}

func (f *fakeOps) TagDelete(_ context.Context, tag string, dryRun bool) (int, error) {
	f.record("tag delete %s dry=%v", tag, dryRun)
	return 1, nil
}

func (f *fakeOps) Verify(_ context.Context, archive, serial string) (VerifyResult, error) {
	f.record("verify %s %s", archive, serial)
	return VerifyResult{Problems: []Problem{{Archive: "debian", Serial: "2026112301", What: "pool/x.deb: missing"}}, Snapshots: 1, Files: 3, Bytes: 300, Signatures: 4}, nil
}

var t0 = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

// fixture is an API server on a fake Ops and a real SQLite token store,
// with one token of each role.
type fixture struct {
	ops     *fakeOps
	cat     *sqlite.Catalog
	h       http.Handler
	admin   string
	manager string
	logs    *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	cat, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	f := &fixture{
		ops: &fakeOps{snaps: []Snapshot{
			{Archive: "debian", Serial: "2026112301", Created: t0, ValidUntil: t0.AddDate(0, 0, 10), Suites: []string{"bookworm", "bookworm-updates"}},
			{Archive: "debian", Serial: "2026112302", Created: t0.Add(6 * time.Hour), ValidUntil: t0.Add(6*time.Hour).AddDate(0, 0, 10), Suites: []string{"bookworm"}},
			{Archive: "torproject", Serial: "2026112301", Created: t0, ValidUntil: t0.AddDate(0, 0, 10), Suites: []string{"bookworm"}},
		}},
		cat:  cat,
		logs: &bytes.Buffer{},
	}
	lt := LocalTokens{cat}
	for _, tk := range []struct {
		name string
		role catalog.Role
		dst  *string
	}{{"root", catalog.RoleAdmin, &f.admin}, {"rm", catalog.RoleReleaseManager, &f.manager}} {
		nt, err := lt.CreateToken(ctx, tk.name, tk.role)
		if err != nil {
			t.Fatal(err)
		}
		*tk.dst = nt.Secret
	}
	f.h = NewServer(ServerOptions{Ops: f.ops, Tokens: cat, Log: slog.New(slog.NewTextHandler(f.logs, nil)), UploadDir: t.TempDir()})
	return f
}

// do calls the handler directly, from loopback unless remote is given.
func (f *fixture) do(method, target, body, token, remote string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.RemoteAddr = "127.0.0.1:40000"
	if remote != "" {
		req.RemoteAddr = remote
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

func (f *fixture) tokenNames(t *testing.T) []string {
	t.Helper()
	list, err := f.cat.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tk := range list {
		names = append(names, tk.Name)
	}
	return names
}

// TestAuthMatrix checks every protected endpoint: 401 without a token and
// with a wrong one, 403 with too low a role, 2xx with the right one, and
// that the action happens only then.
func TestAuthMatrix(t *testing.T) {
	for _, ep := range []struct {
		name         string
		method, path string
		body         string
		ctype        string // Content-Type when not JSON
		need         catalog.Role
		// happened reports whether the action took place.
		happened func(t *testing.T, f *fixture) bool
		want     int
	}{
		{name: "bump", method: "POST", path: "/api/v1/archives/debian/snapshots/2026112301/bump", body: `{"days":30}`,
			need: catalog.RoleReleaseManager, want: 200, happened: calledOps("bump debian 2026112301 30")},
		{name: "gc", method: "POST", path: "/api/v1/gc", body: `{"dry_run":false}`,
			need: catalog.RoleAdmin, want: 200, happened: calledOps("gc false")},
		{name: "gc dry run", method: "POST", path: "/api/v1/gc", body: `{"dry_run":true}`,
			need: catalog.RoleAdmin, want: 200, happened: calledOps("gc true")},
		{name: "untrack", method: "POST", path: "/api/v1/archives/debian/untrack", body: `{"suite":"bookworm-updates"}`,
			need: catalog.RoleAdmin, want: 200, happened: calledOps("untrack debian bookworm-updates dry=false")},
		{name: "untrack several", method: "POST", path: "/api/v1/archives/debian/untrack", body: `{"suites":["bullseye*","buster"]}`,
			need: catalog.RoleAdmin, want: 200, happened: calledOps("untrack debian bullseye* buster dry=false")},
		{name: "verify", method: "GET", path: "/api/v1/verify?archive=debian&serial=2026112301",
			need: catalog.RoleAdmin, want: 200, happened: calledOps("verify debian 2026112301")},
		{name: "token create", method: "POST", path: "/api/v1/tokens", body: `{"name":"ci","role":"release-manager"}`,
			need: catalog.RoleAdmin, want: 201, happened: func(t *testing.T, f *fixture) bool { return slices.Contains(f.tokenNames(t), "ci") }},
		{name: "token list", method: "GET", path: "/api/v1/tokens",
			need: catalog.RoleAdmin, want: 200, happened: nil},
		{name: "tag create", method: "POST", path: "/api/v1/tags", body: `{"tag":"6.1","from":{"debian":"2026112301"},"manifest":{"packages":{"binary":[{"package":"hello","version":"1"}]}}}`,
			need: catalog.RoleReleaseManager, want: 201, happened: calledOps("tag 6.1 map[debian:2026112301] true")},
		{name: "tag delete", method: "DELETE", path: "/api/v1/tags/6.1",
			need: catalog.RoleReleaseManager, want: 200, happened: calledOps("tag delete 6.1 dry=false")},
		{name: "tag delete dry", method: "DELETE", path: "/api/v1/tags/6.1?dry_run=1",
			need: catalog.RoleReleaseManager, want: 200, happened: calledOps("tag delete 6.1 dry=true")},
		{name: "snapshot expire", method: "POST", path: "/api/v1/archives/debian/snapshots/2026112301/expire", body: `{}`,
			need: catalog.RoleAdmin, want: 200, happened: calledOps("expire debian 2026112301")},
		{name: "untrack dry", method: "POST", path: "/api/v1/archives/debian/untrack", body: `{"suites":["sid"],"dry_run":true}`,
			need: catalog.RoleAdmin, want: 200, happened: calledOps("untrack debian sid dry=true")},
		{name: "repo add", method: "POST", path: "/api/v1/archives/ours/suites/stable/packages",
			body:  "--XX\r\nContent-Disposition: form-data; name=\"component\"\r\n\r\nmain\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.deb\"\r\n\r\nDEB\r\n--XX--\r\n",
			ctype: "multipart/form-data; boundary=XX",
			need:  catalog.RoleReleaseManager, want: 200, happened: calledOps("repo add ours stable main a.deb=DEB")},
		{name: "repo remove", method: "POST", path: "/api/v1/archives/ours/suites/stable/remove", body: `{"packages":["hello=1.0"]}`,
			need: catalog.RoleReleaseManager, want: 200, happened: calledOps("repo remove ours stable [hello=1.0]")},
		{name: "repo copy", method: "POST", path: "/api/v1/archives/ours/suites/stable/copy", body: `{"from_archive":"debian","from_serial":"2026112301","package":"hello","version":"1.0"}`,
			need: catalog.RoleReleaseManager, want: 200, happened: calledOps("repo copy ours stable from debian/2026112301 hello=1.0")},
		{name: "repo publish", method: "POST", path: "/api/v1/archives/ours/publish", body: `{}`,
			need: catalog.RoleReleaseManager, want: 200, happened: calledOps("repo publish ours")},
		{name: "token revoke", method: "DELETE", path: "/api/v1/tokens/rm",
			need: catalog.RoleAdmin, want: 204, happened: func(t *testing.T, f *fixture) bool { return !slices.Contains(f.tokenNames(t), "rm") }},
	} {
		for _, tc := range []struct {
			name  string
			token func(f *fixture) string
			want  int
		}{
			{"no token", func(*fixture) string { return "" }, 401},
			{"wrong token", func(*fixture) string { return NewSecret() }, 401},
			{"not bearer", func(*fixture) string { return "" }, 401},
			{"release-manager", func(f *fixture) string { return f.manager }, 0},
			{"admin", func(f *fixture) string { return f.admin }, ep.want},
		} {
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				want := tc.want
				if tc.name == "release-manager" {
					want = 403
					if catalog.RoleReleaseManager.Allows(ep.need) {
						want = ep.want
					}
				}
				var w *httptest.ResponseRecorder
				if tc.name == "not bearer" {
					req := httptest.NewRequest(ep.method, ep.path, strings.NewReader(ep.body))
					req.RemoteAddr = "[::1]:40000"
					req.Header.Set("Authorization", "Basic "+f.admin)
					w = httptest.NewRecorder()
					f.h.ServeHTTP(w, req)
				} else if ep.ctype != "" {
					req := httptest.NewRequest(ep.method, ep.path, strings.NewReader(ep.body))
					req.RemoteAddr = "127.0.0.1:40000"
					req.Header.Set("Content-Type", ep.ctype)
					if tk := tc.token(f); tk != "" {
						req.Header.Set("Authorization", "Bearer "+tk)
					}
					w = httptest.NewRecorder()
					f.h.ServeHTTP(w, req)
				} else {
					w = f.do(ep.method, ep.path, ep.body, tc.token(f), "")
				}
				if w.Code != want {
					t.Fatalf("%s %s: status %d, want %d: %s", ep.method, ep.path, w.Code, want, w.Body)
				}
				if want == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate: Bearer: %q", w.Header().Get("WWW-Authenticate"))
				}
				if want >= 400 {
					var e struct{ Error string }
					if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
						t.Errorf("error body %q: want JSON {\"error\": ...}", w.Body)
					}
				}
				if ep.happened != nil {
					if got := ep.happened(t, f); got != (want/100 == 2) {
						t.Errorf("action happened = %v with status %d; calls: %q", got, w.Code, f.ops.called())
					}
				}
				if want/100 != 2 && len(f.ops.called()) > 0 {
					t.Errorf("refused call reached Ops: %q", f.ops.called())
				}
			})
		}
	}
}

func calledOps(call string) func(*testing.T, *fixture) bool {
	return func(_ *testing.T, f *fixture) bool { return slices.Contains(f.ops.called(), call) }
}

// TestPlainHTTPRefused: a token over plain HTTP from a non-loopback peer is
// refused whatever the endpoint, before it is looked up; over TLS it is fine.
func TestPlainHTTPRefused(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, method, target, body, remote string
		want                               int
	}{
		{"gc from the network", "POST", "/api/v1/gc", `{"dry_run":true}`, "192.0.2.1:1234", 403},
		{"bump from the network", "POST", "/api/v1/archives/debian/snapshots/2026112301/bump", `{"days":3}`, "192.0.2.1:1234", 403},
		{"public endpoint with a token", "GET", "/api/v1/snapshots", "", "[2001:db8::1]:1234", 403},
		{"gc over TLS", "POST", "https://snap.example/api/v1/gc", `{"dry_run":true}`, "192.0.2.1:1234", 200},
		{"gc from loopback v4", "POST", "/api/v1/gc", `{"dry_run":true}`, "127.0.0.1:1234", 200},
		{"gc from loopback v6", "POST", "/api/v1/gc", `{"dry_run":true}`, "[::1]:1234", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.method, tc.target, tc.body, f.admin, tc.remote)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 403 && !strings.Contains(w.Body.String(), "HTTPS or from loopback only") {
				t.Errorf("refusal does not say why: %s", w.Body)
			}
		})
	}
	// Without a token, reading snapshots from the network is fine.
	if w := f.do("GET", "/api/v1/snapshots", "", "", "192.0.2.1:1234"); w.Code != 200 {
		t.Errorf("anonymous GET snapshots: %d %s", w.Code, w.Body)
	}
}

// TestBadRequests: malformed input is 400, unknown things 404, taken names 409.
func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		mention                  string
	}{
		{"bad json", "POST", "/api/v1/gc", `{"dry_run":`, 400, "request body"},
		{"unknown field", "POST", "/api/v1/gc", `{"dryrun":true}`, 400, "unknown field"},
		{"two values", "POST", "/api/v1/gc", `{} {}`, 400, "more than one"},
		{"zero days", "POST", "/api/v1/archives/debian/snapshots/2026112301/bump", `{"days":0}`, 400, "days must be at least 1"},
		{"negative days", "POST", "/api/v1/archives/debian/snapshots/2026112301/bump", `{"days":-3}`, 400, "days must be at least 1"},
		{"no body for bump", "POST", "/api/v1/archives/debian/snapshots/2026112301/bump", ``, 400, "days must be at least 1"},
		{"huge body", "POST", "/api/v1/gc", `{"dry_run":true,"x":"` + strings.Repeat("a", 2<<20) + `"}`, 400, "over 1048576 bytes"},
		{"unknown role", "POST", "/api/v1/tokens", `{"name":"x","role":"root"}`, 400, "unknown role"},
		{"empty token name", "POST", "/api/v1/tokens", `{"name":"","role":"admin"}`, 400, "token name"},
		{"token name taken", "POST", "/api/v1/tokens", `{"name":"rm","role":"admin"}`, 409, "exists already"},
		{"untrack without suite", "POST", "/api/v1/archives/debian/untrack", `{}`, 400, "untrack needs from 1 to 256 suites"},
		{"untrack too many suites", "POST", "/api/v1/archives/debian/untrack", `{"suites":[` + strings.Repeat(`"x",`, 256) + `"y"]}`, 400, "untrack needs from 1 to 256 suites"},
		{"verify serial without archive", "GET", "/api/v1/verify?serial=2026112301", ``, 400, "needs an archive"},
		{"bump unknown snapshot", "POST", "/api/v1/archives/debian/snapshots/2020010101/bump", `{"days":1}`, 404, "no snapshot 2020010101 of debian"},
		{"untrack unknown archive", "POST", "/api/v1/archives/nope/untrack", `{"suite":"x"}`, 404, "not found"},
		{"revoke unknown token", "DELETE", "/api/v1/tokens/nobody", ``, 404, "no token named"},
		{"unknown endpoint", "GET", "/api/v1/nothing", ``, 404, "no API endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.method, tc.path, tc.body, f.admin, "")
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, tc.mention) {
				t.Errorf("body %q: want a JSON error mentioning %q", w.Body, tc.mention)
			}
		})
	}
}

// TestAuditLog: mutating calls are logged with who made them and how they went.
func TestAuditLog(t *testing.T) {
	f := newFixture(t)
	f.do("POST", "/api/v1/archives/debian/snapshots/2026112301/bump", `{"days":30}`, f.manager, "")
	f.do("POST", "/api/v1/archives/debian/snapshots/2020010101/bump", `{"days":30}`, f.admin, "")
	f.do("POST", "/api/v1/tokens", `{"name":"ci","role":"admin"}`, f.admin, "")
	f.do("POST", "/api/v1/gc", `{}`, f.manager, "")
	logs := f.logs.String()
	for _, want := range []string{
		`msg="api call" op=bump token=rm token_role=release-manager remote=127.0.0.1:40000 archive=debian serial=2026112301 days=30`,
		`msg="api call failed" op=bump token=root token_role=admin`,
		`status=404`,
		`msg="api call" op="token create" token=root token_role=admin remote=127.0.0.1:40000 name=ci role=admin outcome=ok`,
		`msg="api refused" op="POST /api/v1/gc"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, SecretPrefix) {
		t.Errorf("a secret was logged:\n%s", logs)
	}
}

func TestSecrets(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b || !strings.HasPrefix(a, SecretPrefix) || len(a) != len(SecretPrefix)+43 || strings.ContainsAny(a, "+/=") {
		t.Fatalf("secrets %q %q", a, b)
	}
	if HashSecret(a) == HashSecret(b) || HashSecret(a) != HashSecret(strings.Clone(a)) || HashSecret("x").String() != "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" {
		t.Fatal("HashSecret is not a function of the secret")
	}
}
