package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/catalog"
)

// TestClientRoundTrip runs every Client call against a real server (on
// loopback) and checks answers and error mapping.
func TestClientRoundTrip(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	admin := &Client{BaseURL: srv.URL + "/", Token: f.admin, HTTP: srv.Client()}
	manager := &Client{BaseURL: srv.URL, Token: f.manager}
	anon := &Client{BaseURL: srv.URL}

	t.Run("snapshots", func(t *testing.T) {
		got, err := anon.Snapshots(ctx, "debian")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, f.ops.snaps[:2]) {
			t.Errorf("got %+v\nwant %+v", got, f.ops.snaps[:2])
		}
		all, err := anon.Snapshots(ctx, "")
		if err != nil || len(all) != 3 {
			t.Errorf("all snapshots: %v %+v", err, all)
		}
		none, err := anon.Snapshots(ctx, "nothing")
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("no snapshots: %v %#v (want an empty list)", err, none)
		}
	})
	t.Run("bump", func(t *testing.T) {
		res, err := manager.Bump(ctx, "debian", "2026112301", 30, false)
		if err != nil {
			t.Fatal(err)
		}
		want := BumpResult{Snapshot: f.ops.snaps[0], Previous: f.ops.snaps[0].ValidUntil}
		want.Snapshot.ValidUntil = t0.AddDate(0, 0, 30)
		if !reflect.DeepEqual(res, want) {
			t.Errorf("got %+v\nwant %+v", res, want)
		}
	})
	t.Run("gc", func(t *testing.T) {
		res, err := admin.GC(ctx, true)
		want := GCResult{DryRun: true, Expired: f.ops.snaps[:1], Files: 3, Bytes: 4096, Kept: 7}
		if err != nil || !reflect.DeepEqual(res, want) {
			t.Errorf("got %+v, %v\nwant %+v", res, err, want)
		}
	})
	t.Run("untrack", func(t *testing.T) {
		res, err := admin.Untrack(ctx, "debian", []string{"bookworm-updates", "bookworm-backports"}, false)
		want := UntrackResult{Archive: "debian", Suites: []string{"bookworm-updates", "bookworm-backports"}, Snapshots: 2}
		if err != nil || !reflect.DeepEqual(res, want) {
			t.Errorf("got %+v, %v", res, err)
		}
	})
	t.Run("verify", func(t *testing.T) {
		v, err := admin.Verify(ctx, "debian", "")
		if err != nil || len(v.Problems) != 1 || v.Problems[0].What != "pool/x.deb: missing" || v.Files != 3 || v.Signatures != 4 {
			t.Errorf("got %+v, %v", v, err)
		}
		if !slices.Contains(f.ops.called(), "verify debian ") {
			t.Errorf("calls %q", f.ops.called())
		}
	})
	t.Run("tokens", func(t *testing.T) {
		nt, err := admin.CreateToken(ctx, "ci", catalog.RoleReleaseManager)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(nt.Secret, SecretPrefix) || nt.Name != "ci" || nt.Role != catalog.RoleReleaseManager || nt.Created.IsZero() {
			t.Fatalf("created %+v", nt)
		}
		// The new secret works, and is what the catalog knows by hash.
		ci := &Client{BaseURL: srv.URL, Token: nt.Secret}
		if _, err := ci.Bump(ctx, "debian", "2026112302", 1, false); err != nil {
			t.Fatalf("bump with the new token: %v", err)
		}
		list, err := admin.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tk := range list {
			names = append(names, tk.Name+":"+string(tk.Role))
		}
		if got := strings.Join(names, " "); got != "ci:release-manager rm:release-manager root:admin" {
			t.Errorf("tokens %s", got)
		}
		if err := admin.RevokeToken(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		if _, err := ci.Bump(ctx, "debian", "2026112302", 1, false); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("bump with a revoked token: %v, want 401", err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			call    func() error
			is      error
			status  int
			message string
		}{
			{"unknown snapshot", func() error { _, err := admin.Bump(ctx, "debian", "2020010101", 3, false); return err },
				catalog.ErrNotFound, 404, "bump debian/2020010101: no snapshot 2020010101 of debian"},
			{"bad days", func() error { _, err := admin.Bump(ctx, "debian", "2026112301", 0, false); return err },
				ErrInvalid, 400, "bump debian/2026112301: days must be at least 1, not 0"},
			{"no token", func() error { _, err := anon.GC(ctx, true); return err },
				ErrUnauthorized, 401, "this needs an API token of role admin: set APTSNAP_TOKEN to one (aptsnap token create --role admin, on the server)"},
			{"low role", func() error { _, err := manager.GC(ctx, false); return err },
				ErrForbidden, 403, `the token in APTSNAP_TOKEN ("rm") has role release-manager; this needs admin`},
			{"taken name", func() error { _, err := admin.CreateToken(ctx, "rm", catalog.RoleAdmin); return err },
				ErrExists, 409, `token create: a token named "rm" exists already: revoke it first (token revoke rm), or pick another name`},
			{"revoke unknown", func() error { return admin.RevokeToken(ctx, "nobody") },
				catalog.ErrNotFound, 404, `token revoke: no token named "nobody" (token list shows them)`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if !errors.Is(err, tc.is) {
					t.Fatalf("error %v: want errors.Is %v", err, tc.is)
				}
				if e, ok := errors.AsType[*Error](err); !ok || e.Status != tc.status {
					t.Errorf("error %v: want status %d", err, tc.status)
				}
				if !strings.HasPrefix(err.Error(), tc.message) {
					t.Errorf("error %q\nwant    %q...", err, tc.message)
				}
			})
		}
	})
}

// TestClientRefusesPlainHTTP: the client never sends a token in clear to
// another machine.
func TestClientRefusesPlainHTTP(t *testing.T) {
	for _, url := range []string{"http://snapshots.example.org", "http://192.0.2.1:8080", "ftp://127.0.0.1", "127.0.0.1:8080"} {
		c := &Client{BaseURL: url, Token: "aptsnap_x"}
		_, err := c.GC(context.Background(), true)
		if err == nil || !strings.Contains(err.Error(), url) {
			t.Errorf("%s: %v, want a refusal naming the URL", url, err)
		}
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "127.1.2.3"} {
		if !loopbackHost(h) {
			t.Errorf("%s is loopback", h)
		}
	}
	if loopbackHost("localhost.example.org") || loopbackHost("10.0.0.1") {
		t.Error("not loopback")
	}
}

// TestNoTokenWhereNoneNeeded: reading snapshots, tags and archives sends
// no token (a server refuses tokens over plain HTTP from the network, and
// these need none); changes and admin reads send it.
func TestNoTokenWhereNoneNeeded(t *testing.T) {
	sent := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent[r.Method+" "+r.URL.Path] = r.Header.Get("Authorization") != ""
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "aptsnap_secret"}
	ctx := context.Background()
	c.Snapshots(ctx, "debian")
	c.Tags(ctx)
	c.Archives(ctx)
	c.GC(ctx, true)
	c.Verify(ctx, "", "")
	c.ListTokens(ctx)
	for call, want := range map[string]bool{"GET /api/v1/snapshots": false, "GET /api/v1/tags": false, "GET /api/v1/archives": false,
		"POST /api/v1/gc": true, "GET /api/v1/verify": true, "GET /api/v1/tokens": true} {
		if got, ok := sent[call]; !ok || got != want {
			t.Errorf("%s: token sent %v (called %v), want %v", call, got, ok, want)
		}
	}
}
