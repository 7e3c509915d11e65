package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestStart: each Start is a database of its own on one server, usable
// at once, and gone after its test.
func TestStart(t *testing.T) {
	ctx := context.Background()
	var dsns []string
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			dsn := Start(t)
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, `CREATE TABLE x (n int)`); err != nil {
				t.Fatalf("a fresh database is not empty: %v", err)
			}
			var user string
			if err := conn.QueryRow(ctx, `SELECT current_user`).Scan(&user); err != nil || user != "postgres" {
				t.Errorf("current_user = %q, %v", user, err)
			}
			dsns = append(dsns, dsn)
		})
	}
	if len(dsns) == 2 && dsns[0] == dsns[1] {
		t.Errorf("two Starts gave one database: %s", dsns[0])
	}
	if len(dsns) > 0 {
		if conn, err := pgx.Connect(ctx, dsns[0]); err == nil {
			conn.Close(ctx)
			t.Errorf("the database of an ended test is still there")
		}
	}
}

// recorder is a testing.TB that records a skip or a failure instead.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

// TestMissingBinaries: without PostgreSQL a test is skipped, saying why,
// unless RequireEnv is set (CI), where it fails.
func TestMissingBinaries(t *testing.T) {
	for _, tc := range []struct {
		require  string
		wantSkip bool
	}{
		{"", true},
		{"1", false},
	} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.require)
			mu.Lock()
			saved := []any{srv, startErr, missing}
			srv, startErr, missing = nil, nil, ""
			lookup = func() (binaries, string) { return binaries{}, "no PostgreSQL server binaries" }
			mu.Unlock()
			defer func() {
				mu.Lock()
				srv, startErr, missing = saved[0].(*server), nil, saved[2].(string)
				if saved[1] != nil {
					startErr = saved[1].(error)
				}
				lookup = findBinaries
				mu.Unlock()
			}()
			r := &recorder{TB: t}
			if dsn := Start(r); dsn != "" {
				t.Fatalf("Start without binaries = %q", dsn)
			}
			got := r.failed
			if tc.wantSkip {
				got = r.skipped
			}
			if !strings.Contains(got, "no PostgreSQL server binaries") || (r.skipped != "") == (r.failed != "") {
				t.Errorf("skipped %q, failed %q; want a skip: %v", r.skipped, r.failed, tc.wantSkip)
			}
		})
	}
}
