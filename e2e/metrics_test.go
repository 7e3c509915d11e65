package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aptsnap/aptsnap/repogen"
)

// scrape fetches /metrics and parses it with Prometheus' own text parser.
func (e *env) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapeURL(t, e.srv.URL)
}

func scrapeURL(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want (0 if there is none).
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
Series:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue Series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// TestMetrics: /metrics parses and moves when a pulse runs, fails (named
// by its kind), when files are served and when GC collects.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	before := e.scrape(t)
	if v := value(before, "aptsnap_pulses_total", map[string]string{"archive": "debian", "result": "ok"}); v != 0 {
		t.Fatalf("pulses before any: %v", v)
	}
	snap := e.pulseAt(time.Now().Add(-11 * 24 * time.Hour))
	e.up.write(1, func(r *repogen.Repo) { r.Suites[0].Date = time.Now().Add(48 * time.Hour) })
	if _, err := e.pulse(); err == nil {
		t.Fatal("pulse of a future-dated upstream succeeded")
	}
	e.up.write(1)
	e.mustPulse()
	e.fingerprint(snap.Serial)
	e.ageStore(time.Hour)
	if _, err := e.app.GC(context.Background(), false); err != nil {
		t.Fatal(err)
	}

	after := e.scrape(t)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
	}{
		{"aptsnap_pulses_total", map[string]string{"archive": "debian", "result": "ok"}, func(v float64) bool { return v == 2 }},
		{"aptsnap_pulses_total", map[string]string{"archive": "debian", "result": "date"}, func(v float64) bool { return v == 1 }},
		{"aptsnap_pulse_duration_seconds", map[string]string{"archive": "debian"}, func(v float64) bool { return v == 3 }},
		{"aptsnap_last_successful_pulse_timestamp_seconds", map[string]string{"archive": "debian"}, func(v float64) bool { return v > float64(time.Now().Add(-time.Minute).Unix()) }},
		{"aptsnap_snapshots", map[string]string{"archive": "debian", "kind": "time-based"}, func(v float64) bool { return v == 1 }},
		{"aptsnap_stored_bytes", nil, func(v float64) bool { return v > 0 }},
		{"aptsnap_http_requests_total", map[string]string{"kind": "pool"}, func(v float64) bool { return v >= 3 }},
		{"aptsnap_http_served_bytes_total", map[string]string{"kind": "index"}, func(v float64) bool { return v > 100 }},
		{"aptsnap_http_requests_total", map[string]string{"kind": "release"}, func(v float64) bool { return v >= 6 }},
		{"aptsnap_gc_runs_total", map[string]string{"result": "ok"}, func(v float64) bool { return v == 1 }},
		{"aptsnap_gc_expired_snapshots_total", nil, func(v float64) bool { return v == 1 }},
		{"aptsnap_gc_deleted_files_total", nil, func(v float64) bool { return v > 0 }},
	} {
		if v := value(after, tt.name, tt.labels); !tt.want(v) {
			t.Errorf("%s%v = %v", tt.name, tt.labels, v)
		}
	}
	// The metrics page is plain text, the content type Prometheus expects.
	resp, _ := http.Get(e.srv.URL + "/metrics")
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestMetricsCustomArchive: a custom archive's scheduled re-snapshot counts
// as its pulse in the metrics, and it has snapshots like any archive.
func TestMetricsCustomArchive(t *testing.T) {
	e := newEnvWith(t, customConfig(""))
	if _, err := e.app.Pulse(t.Context(), "ours"); err != nil {
		t.Fatal(err)
	}
	m := e.scrape(t)
	if v := value(m, "aptsnap_pulses_total", map[string]string{"archive": "ours", "result": "ok"}); v != 1 {
		t.Errorf("pulses of ours: %v, want 1", v)
	}
	if v := value(m, "aptsnap_last_successful_pulse_timestamp_seconds", map[string]string{"archive": "ours"}); v == 0 {
		t.Error("no last success time for ours")
	}
}

// TestMetricsFromCatalog: a pulse run by the CLI, in another process,
// shows in the server's metrics (last success, snapshots), as after a
// restart: they are read from the catalog.
func TestMetricsFromCatalog(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnv(t)
	if v := value(e.scrape(t), "aptsnap_last_successful_pulse_timestamp_seconds", map[string]string{"archive": "debian"}); v != 0 {
		t.Fatalf("a last success before any pulse: %v", v)
	}
	c := &cli{t: t, bin: bin, config: e.writeConfig(t)}
	start := time.Now().Add(-time.Second)
	if out := c.local("pulse", "debian"); !strings.HasPrefix(out, "debian ") {
		t.Fatalf("pulse: %q", out)
	}
	m := e.scrape(t)
	if v := value(m, "aptsnap_last_successful_pulse_timestamp_seconds", map[string]string{"archive": "debian"}); v < float64(start.Unix()) {
		t.Errorf("last success after a CLI pulse: %v, want at least %d", v, start.Unix())
	}
	if v := value(m, "aptsnap_snapshots", map[string]string{"archive": "debian", "kind": "time-based"}); v != 1 {
		t.Errorf("snapshots after a CLI pulse: %v", v)
	}
}
