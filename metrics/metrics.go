// Package metrics exposes aptsnap's Prometheus metrics: pulses by result
// and duration, the last successful pulse per archive, snapshots per
// archive, bytes stored, requests and bytes served by kind, GC results,
// and stable update requests by state with the oldest in -proposed.
package metrics

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/stable"
)

// Metrics holds the collectors of one server.
type Metrics struct {
	reg *prometheus.Registry

	pulses        *prometheus.CounterVec
	pulseDuration *prometheus.HistogramVec
	gcRuns        *prometheus.CounterVec
	gcExpired     prometheus.Counter
	gcFiles       prometheus.Counter
	gcBytes       prometheus.Counter

	requests map[string]prometheus.Counter // by kind
	bytes    map[string]prometheus.Counter
	store    *storeCollector
	certs    *certCollector
}

// Kinds of request counted apart.
var kinds = []string{"pool", "index", "release", "trace", "key", "api", "other"}

// New makes the metrics; snapshots per archive and bytes stored are read
// from cat and store when scraped (the store walk at most once a minute).
// now is the clock snapshots expire by (time.Now if nil).
func New(cat catalog.Catalog, store blob.Store, archives []string, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), requests: map[string]prometheus.Counter{}, bytes: map[string]prometheus.Counter{},
		store: &storeCollector{store: store}, certs: &certCollector{}}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.pulses = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aptsnap_pulses_total",
		Help: "Pulses by archive and result: ok, or the kind of failure (signature, checksum, date, missing, unreachable, stalled, storage, busy, interrupted, other)."},
		[]string{"archive", "result"})
	m.pulseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aptsnap_pulse_duration_seconds",
		Help: "Duration of pulses.", Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12)}, []string{"archive"})
	m.gcRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aptsnap_gc_runs_total", Help: "Garbage collections by result."}, []string{"result"})
	m.gcExpired = prometheus.NewCounter(prometheus.CounterOpts{Name: "aptsnap_gc_expired_snapshots_total", Help: "Snapshots collected."})
	m.gcFiles = prometheus.NewCounter(prometheus.CounterOpts{Name: "aptsnap_gc_deleted_files_total", Help: "Stored files deleted by GC."})
	m.gcBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "aptsnap_gc_deleted_bytes_total", Help: "Bytes deleted by GC."})
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aptsnap_http_requests_total", Help: "HTTP requests by kind."}, []string{"kind"})
	served := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aptsnap_http_served_bytes_total", Help: "Response body bytes by kind."}, []string{"kind"})
	for _, k := range kinds {
		m.requests[k] = reqs.WithLabelValues(k)
		m.bytes[k] = served.WithLabelValues(k)
	}
	for _, c := range []prometheus.Collector{m.pulses, m.pulseDuration, m.gcRuns, m.gcExpired, m.gcFiles, m.gcBytes, reqs, served,
		&catalogCollector{cat: cat, archives: archives, now: now}, m.store, m.certs} {
		f(c)
	}
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Pulse records a pulse's outcome; reason is "" for success.
func (m *Metrics) Pulse(archive, reason string, took time.Duration, ended time.Time) {
	result := reason
	if result == "" {
		result = "ok"
		m.store.changed()
	}
	m.pulses.WithLabelValues(archive, result).Inc()
	m.pulseDuration.WithLabelValues(archive).Observe(took.Seconds())
}

// GC records a garbage collection, or the end of a background sweep.
func (m *Metrics) GC(g events.GC) {
	if g.Sweep {
		// A background sweep: its files, not another run.
		m.store.changed()
		m.gcFiles.Add(float64(g.Files))
		m.gcBytes.Add(float64(g.Bytes))
		if g.Err != nil {
			m.gcRuns.WithLabelValues("sweep_error").Inc()
		}
		return
	}
	err, expired, files, bytes := g.Err, g.Expired, g.Files, g.Bytes
	if err != nil {
		m.gcRuns.WithLabelValues("error").Inc()
		return
	}
	m.gcRuns.WithLabelValues("ok").Inc()
	m.store.changed()
	m.gcExpired.Add(float64(expired))
	m.gcFiles.Add(float64(files))
	m.gcBytes.Add(float64(bytes))
}

// Kind classifies a request path for the request metrics.
func Kind(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/"):
		return "api"
	case strings.HasPrefix(path, "/keys/"):
		return "key"
	case strings.Contains(path, "/pool/"):
		return "pool"
	case strings.HasSuffix(path, "/InRelease") || strings.HasSuffix(path, "/Release") || strings.HasSuffix(path, "/Release.gpg"):
		return "release"
	case strings.Contains(path, "/dists/"):
		return "index"
	case strings.Contains(path, "/project/trace/"):
		return "trace"
	}
	return "other"
}

// Count wraps h to count requests and body bytes by kind. The wrapper
// keeps the ResponseWriter's io.ReaderFrom, so sendfile still works.
func (m *Metrics) Count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := Kind(r.URL.Path)
		m.requests[k].Inc()
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		m.bytes[k].Add(float64(cw.n))
	})
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		c.n += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{c.ResponseWriter}, r)
	c.n += n
	return n, err
}

// catalogCollector reports, at scrape time and from the catalog (so that
// pulses run by the CLI and before a restart count), snapshots per
// archive, whether the newest is stale, and when the last successful
// pulse ended.
type catalogCollector struct {
	cat      catalog.Catalog
	archives []string
	now      func() time.Time
}

var (
	snapshotsDesc = prometheus.NewDesc("aptsnap_snapshots", "Snapshots per archive (time-based; tagged counted apart).", []string{"archive", "kind"}, nil)
	staleDesc     = prometheus.NewDesc("aptsnap_archive_stale",
		"1 when an archive's newest snapshot has expired (kept while its pulses fail), else 0.", []string{"archive"}, nil)
	lastSuccessDesc = prometheus.NewDesc("aptsnap_last_successful_pulse_timestamp_seconds",
		"When the last successful pulse of an archive ended (from the catalog's pulse log, else its newest snapshot).", []string{"archive"}, nil)
	updateRequestsDesc = prometheus.NewDesc("aptsnap_update_requests",
		"Stable update requests by state.", []string{"state"}, nil)
	oldestProposedDesc = prometheus.NewDesc("aptsnap_update_oldest_proposed_seconds",
		"How long the oldest request of a series awaiting verification or release (verification-needed, -failed or -done) has been in -proposed.", []string{"series"}, nil)
)

// pulseLookback is how many recorded pulses a scrape reads for the last
// success before falling back on the newest snapshot.
const pulseLookback = 200

func (c *catalogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- snapshotsDesc
	ch <- staleDesc
	ch <- lastSuccessDesc
	ch <- updateRequestsDesc
	ch <- oldestProposedDesc
}

func (c *catalogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tags, _ := c.cat.Tags(ctx)
	for _, a := range c.archives {
		snaps, err := c.cat.Snapshots(ctx, a)
		if err != nil {
			continue
		}
		n := 0
		for _, t := range tags {
			if t.Archive == a {
				n++
			}
		}
		ch <- prometheus.MustNewConstMetric(snapshotsDesc, prometheus.GaugeValue, float64(len(snaps)), a, "time-based")
		stale := 0.0
		if k := len(snaps) - 1; k >= 0 && !snaps[k].ValidUntil.IsZero() && !c.now().Before(snaps[k].ValidUntil) {
			stale = 1
		}
		ch <- prometheus.MustNewConstMetric(staleDesc, prometheus.GaugeValue, stale, a)
		ch <- prometheus.MustNewConstMetric(snapshotsDesc, prometheus.GaugeValue, float64(n), a, "tagged")
		if t, ok := c.lastSuccess(ctx, a, snaps); ok {
			ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(t.Unix()), a)
		}
	}
	c.collectUpdates(ctx, ch)
}

// collectUpdates reports the requests by state (every state, 0 included)
// and, per series, how long the oldest request in verification has been
// in -proposed (none for a series without one). The catalog keeps each
// request's state apart; only those in verification are decoded.
func (c *catalogCollector) collectUpdates(ctx context.Context, ch chan<- prometheus.Metric) {
	reqs, err := c.cat.Requests(ctx, "", "")
	if err != nil {
		return
	}
	counts := map[string]int{}
	oldest := map[string]time.Time{}
	for _, r := range reqs {
		counts[r.State]++
		switch stable.State(r.State) {
		case stable.VerificationNeeded, stable.VerificationFailed, stable.VerificationDone:
		default:
			continue
		}
		var doc stable.Request
		if json.Unmarshal(r.Doc, &doc) != nil || doc.ProposedAt.IsZero() {
			continue
		}
		if t, ok := oldest[r.Series]; !ok || doc.ProposedAt.Before(t) {
			oldest[r.Series] = doc.ProposedAt
		}
	}
	for _, s := range stable.States {
		ch <- prometheus.MustNewConstMetric(updateRequestsDesc, prometheus.GaugeValue, float64(counts[string(s)]), string(s))
	}
	now := c.now()
	for series, t := range oldest {
		ch <- prometheus.MustNewConstMetric(oldestProposedDesc, prometheus.GaugeValue, max(0, now.Sub(t).Seconds()), series)
	}
}

// lastSuccess is when the archive's last successful pulse ended, from
// the pulse log, else from its newest snapshot (a pulse's success is
// recorded with its snapshot).
func (c *catalogCollector) lastSuccess(ctx context.Context, archive string, snaps []catalog.Snapshot) (time.Time, bool) {
	pulses, err := c.cat.Pulses(ctx, archive, pulseLookback)
	if err == nil {
		for _, p := range pulses {
			if p.OK {
				return p.Finished, true
			}
		}
	}
	if len(snaps) > 0 {
		return snaps[len(snaps)-1].Created, true
	}
	return time.Time{}, false
}

// storeCollector reports the bytes and files stored, walking the store at
// most once a minute, or again after a pulse or GC changed it.
type storeCollector struct {
	store blob.Store
	mu    sync.Mutex
	at    time.Time
	files int
	bytes int64
}

var (
	storedBytesDesc = prometheus.NewDesc("aptsnap_stored_bytes", "Bytes in the content-addressed store.", nil, nil)
	storedFilesDesc = prometheus.NewDesc("aptsnap_stored_files", "Files in the content-addressed store.", nil, nil)
)

func (c *storeCollector) changed() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storedBytesDesc
	ch <- storedFilesDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > time.Minute {
		var files int
		var bytes int64
		if err := c.store.Walk(context.Background(), func(i blob.Info) error { files++; bytes += i.Size; return nil }); err == nil {
			c.files, c.bytes, c.at = files, bytes, time.Now()
		}
	}
	ch <- prometheus.MustNewConstMetric(storedBytesDesc, prometheus.GaugeValue, float64(c.bytes))
	ch <- prometheus.MustNewConstMetric(storedFilesDesc, prometheus.GaugeValue, float64(c.files))
}

// CertSource sets where certificate expiry comes from: the names served
// over HTTPS and their certificates' not-after (nil when not serving HTTPS).
func (m *Metrics) CertSource(f func() map[string]time.Time) {
	m.certs.mu.Lock()
	m.certs.source = f
	m.certs.mu.Unlock()
}

var certDesc = prometheus.NewDesc("aptsnap_certificate_not_after_timestamp_seconds",
	"When the certificate served for a name expires.", []string{"name"}, nil)

type certCollector struct {
	mu     sync.Mutex
	source func() map[string]time.Time
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- certDesc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	f := c.source
	c.mu.Unlock()
	if f == nil {
		return
	}
	for name, t := range f() {
		ch <- prometheus.MustNewConstMetric(certDesc, prometheus.GaugeValue, float64(t.Unix()), name)
	}
}

// Listen records the pulses and garbage collections b tells of.
func (m *Metrics) Listen(b *events.Bus) {
	b.OnPulse(func(p events.Pulse) { m.Pulse(p.Archive, p.Reason, p.Took, p.Ended) })
	b.OnGC(m.GC)
}
