package metrics

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/sqlite"
	"github.com/aptsnap/aptsnap/stable"
)

// scrapeUpdates serves the metrics of cat at now and returns the lines of
// the update metrics.
func scrapeUpdates(t *testing.T, cat catalog.Catalog, now time.Time) string {
	t.Helper()
	store, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := New(cat, store, nil, func() time.Time { return now })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	var out []string
	for line := range strings.Lines(string(body)) {
		if strings.Contains(line, "aptsnap_update_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

func openCatalog(t *testing.T) *sqlite.Catalog {
	t.Helper()
	cat, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// TestUpdateMetrics: requests by state, every state listed, and per
// series the age of the oldest request in verification by when its
// packages went into -proposed.
func TestUpdateMetrics(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	cat := openCatalog(t)
	hour := time.Hour
	for _, r := range []struct {
		archive, series string
		state           stable.State
		proposed        time.Duration // ago (none if zero)
	}{
		{"ours", "stable", stable.Draft, 0},
		{"ours", "stable", stable.VerificationNeeded, 2 * hour},
		{"ours", "stable", stable.VerificationFailed, 50 * hour}, // the oldest of ours/stable
		{"ours", "stable", stable.VerificationDone, 10 * hour},
		{"ours", "stable", stable.Released, 500 * hour}, // out of -proposed: not counted as the oldest
		{"ours", "oldstable", stable.VerificationDone, 3 * hour},
		{"theirs", "stable", stable.Rejected, 100 * hour},
		{"theirs", "stable", stable.Submitted, 0},
	} {
		doc := stable.Request{Archive: r.archive, Series: r.series, Sources: []string{"acmelib"}, Version: "2.0", State: r.state}
		if r.proposed != 0 {
			doc.Proposed, doc.ProposedAt = map[string]string{"acmelib": "2.0-1"}, now.Add(-r.proposed)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cat.CreateRequest(context.Background(), catalog.Request{Series: doc.SeriesName(), State: string(r.state), Doc: b}); err != nil {
			t.Fatal(err)
		}
	}
	want := `# HELP aptsnap_update_oldest_proposed_seconds How long the oldest request of a series awaiting verification or release (verification-needed, -failed or -done) has been in -proposed.
# TYPE aptsnap_update_oldest_proposed_seconds gauge
aptsnap_update_oldest_proposed_seconds{series="ours/oldstable"} 10800
aptsnap_update_oldest_proposed_seconds{series="ours/stable"} 180000
# HELP aptsnap_update_requests Stable update requests by state.
# TYPE aptsnap_update_requests gauge
aptsnap_update_requests{state="draft"} 1
aptsnap_update_requests{state="rejected"} 1
aptsnap_update_requests{state="released"} 1
aptsnap_update_requests{state="submitted"} 1
aptsnap_update_requests{state="verification-done"} 2
aptsnap_update_requests{state="verification-failed"} 1
aptsnap_update_requests{state="verification-needed"} 1
`
	if got := scrapeUpdates(t, cat, now); got != want {
		t.Errorf("update metrics:\n%s\nwant:\n%s", got, want)
	}

	// No request: every state at 0, no oldest.
	want = `# HELP aptsnap_update_requests Stable update requests by state.
# TYPE aptsnap_update_requests gauge
aptsnap_update_requests{state="draft"} 0
aptsnap_update_requests{state="rejected"} 0
aptsnap_update_requests{state="released"} 0
aptsnap_update_requests{state="submitted"} 0
aptsnap_update_requests{state="verification-done"} 0
aptsnap_update_requests{state="verification-failed"} 0
aptsnap_update_requests{state="verification-needed"} 0
`
	if got := scrapeUpdates(t, openCatalog(t), now); got != want {
		t.Errorf("update metrics of an empty catalog:\n%s\nwant:\n%s", got, want)
	}
}
