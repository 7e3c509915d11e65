package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/mirror"
	"github.com/aptsnap/aptsnap/pgp"
)

var webNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// history is an archive a release manager would look at: a snapshot
// expired two days ago (the next GC deletes it), one bumped, one about
// to expire, the newest; a tag; four pulses, the last failed.
func history() *fakeCatalog {
	day := 24 * time.Hour
	snap := func(id int64, serial string, created time.Time, valid time.Duration) catalog.Snapshot {
		return catalog.Snapshot{ID: id, Archive: "debian", Serial: serial, Created: created, ValidUntil: created.Add(valid), Suites: []string{"bookworm"}}
	}
	c := &fakeCatalog{suites: map[int64]map[string]catalog.Suite{}}
	c.snaps = []catalog.Snapshot{
		snap(1, "2026111801", webNow.Add(-12*day), 10*day),              // expired 2 days ago
		snap(2, "2026111901", webNow.Add(-11*day), 31*day),              // bumped: 20 days left
		snap(3, "2026112001", webNow.Add(-10*day+10*time.Hour), 10*day), // 10 hours left
		snap(4, "2026112801", webNow.Add(-2*day), 10*day),               // the newest
	}
	c.tags = []catalog.Snapshot{{ID: 9, Archive: "debian", Serial: "@6.1", Created: webNow.Add(-11 * day), Suites: []string{"bookworm"}}}
	c.usage = []catalog.Usage{
		{Serial: "2026111801", Files: 10, Bytes: 10 << 20, NewFiles: 10, NewBytes: 10 << 20},
		{Serial: "2026111901", Bumped: webNow.Add(-time.Hour), Files: 10, Bytes: 10 << 20, NewFiles: 1, NewBytes: 1 << 20},
		{Serial: "2026112001", Files: 10, Bytes: 11 << 20, NewFiles: 2, NewBytes: 2 << 20},
		{Serial: "2026112801", Files: 10, Bytes: 11 << 20, NewFiles: 1, NewBytes: 512 << 10},
	}
	pulse := func(serial string, started time.Time, took time.Duration) catalog.Pulse {
		return catalog.Pulse{Archive: "debian", Started: started, Finished: started.Add(took), OK: true, Serial: serial}
	}
	c.pulses = []catalog.Pulse{
		{Archive: "debian", Started: webNow.Add(-time.Hour), Finished: webNow.Add(-time.Hour + 12*time.Second),
			Error: "pulse debian: bookworm: GET http://deb.example.org/debian/dists/bookworm/InRelease: 503 Service Unavailable <b>"},
		pulse("2026112801", webNow.Add(-2*day), 400*time.Millisecond),
		pulse("2026112001", webNow.Add(-10*day+10*time.Hour), 36*time.Millisecond),
		pulse("2026111901", webNow.Add(-11*day), 3*time.Minute+5*time.Second),
	}
	return c
}

func serveWeb(t *testing.T, h *UI, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func find(t *testing.T, body, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindString(body)
	if m == "" {
		t.Fatalf("no %s in\n%s", re, body)
	}
	return m
}

func newWeb(c *fakeCatalog, o Options) *UI {
	o.Catalog, o.Archives, o.Now = c, []string{"debian"}, func() time.Time { return webNow }
	return New(o)
}

// TestWebFailedPulse: a failed pulse's row on the archives page says the
// kind of failure and when the last pulse succeeded, not the error (which
// names the upstream URL); the archive's page has the error in full.
func TestWebFailedPulse(t *testing.T) {
	h := newWeb(history(), Options{})
	row := find(t, serveWeb(t, h, "/ui/"), `(?s)<tr class="archive" data-archive="debian">.*?</tr>`)
	for _, want := range []string{`<span class="bad">failed</span>`, `<span class="reason">unreachable</span>`,
		`last success <time datetime="2026-11-28T12:00:00Z">`, `href="/ui/debian/#pulses"`} {
		if !strings.Contains(row, want) {
			t.Errorf("archives: the failed pulse's row lacks %q: %s", want, row)
		}
	}
	for _, not := range []string{"deb.example.org", "503", "InRelease"} {
		if strings.Contains(row, not) {
			t.Errorf("archives: the failed pulse's row holds %q: %s", not, row)
		}
	}
	page := serveWeb(t, h, "/ui/debian/")
	failed := find(t, page, `(?s)<tr class="pulse" data-result="failed">.*?</tr>`)
	if !strings.Contains(failed, "pulse debian: bookworm: GET http://deb.example.org/debian/dists/bookworm/InRelease: 503 Service Unavailable &lt;b&gt;") ||
		!strings.Contains(failed, `<span class="reason">unreachable</span>`) || !strings.Contains(failed, ">12 s<") {
		t.Errorf("archive: the failed pulse: %s", failed)
	}
	find(t, page, `last success <span id="last-ok"><time datetime="2026-11-28T12:00:00Z">`)

	// A successful last pulse: ok, when, how long; no reason.
	c := history()
	c.pulses = c.pulses[1:]
	row = find(t, serveWeb(t, newWeb(c, Options{}), "/ui/"), `(?s)<tr class="archive" data-archive="debian">.*?</tr>`)
	if !strings.Contains(row, `<span class="ok">ok</span>`) || !strings.Contains(row, "· 0.4 s") || strings.Contains(row, "reason") {
		t.Errorf("archives: a successful pulse's row: %s", row)
	}
}

func TestWebLastSuccess(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	failed := catalog.Pulse{Finished: at, Error: "x"}
	ok := catalog.Pulse{Finished: at.Add(-time.Hour), OK: true}
	latest := &snapRow{Created: at.Add(-48 * time.Hour)}
	if got := lastSuccess([]catalog.Pulse{failed, ok, failed}, latest); !got.Equal(ok.Finished) {
		t.Errorf("last success = %s, want the successful pulse's end", got)
	}
	if got := lastSuccess([]catalog.Pulse{failed, failed}, latest); !got.IsZero() {
		t.Errorf("no success in the whole log: %s, want none", got)
	}
	full := make([]catalog.Pulse, pulseLog)
	for i := range full {
		full[i] = failed
	}
	if got := lastSuccess(full, latest); !got.Equal(latest.Created) {
		t.Errorf("no success in the last %d pulses: %s, want the newest snapshot's creation", pulseLog, got)
	}
}

// TestWebFailureReason: the kind read from a failed pulse's recorded
// error is the one the mirror gave it (mirror.Reason), for the errors the
// mirror tells apart.
func TestWebFailureReason(t *testing.T) {
	get := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://deb.example.org/debian/dists/bookworm/InRelease", Err: err}
	}
	for _, err := range []error{
		fmt.Errorf("bookworm: InRelease: %w", pgp.ErrBadSignature),
		fmt.Errorf("bookworm: InRelease: %w", pgp.ErrUnknownKey),
		fmt.Errorf("bookworm: %w", pgp.ErrMalformed),
		fmt.Errorf("bookworm: %w", pgp.ErrWeakDigest),
		fmt.Errorf("bookworm: %w", pgp.ErrKeyExpired),
		fmt.Errorf("bookworm: %w", pgp.ErrKeyRevoked),
		fmt.Errorf("bookworm: %w", pgp.ErrSignatureExpired),
		fmt.Errorf("main/binary-amd64/Packages.xz: %w", blob.ErrMismatch),
		fmt.Errorf("main/binary-amd64/Packages: %w: decompresses to more than 268435456 bytes", index.ErrTooLarge),
		fmt.Errorf("bookworm: %w: Date 2026-01-01 is older than the last accepted", mirror.ErrDate),
		fmt.Errorf("bookworm: %w: expired", mirror.ErrDate),
		fmt.Errorf("GET http://deb.example.org/debian/pool/x.deb: %w: nothing for 2m0s", mirror.ErrStalled),
		fmt.Errorf("%w: the pulse took longer than 12h0m0s (pulse_timeout)", mirror.ErrStalled),
		fmt.Errorf("blob: write: %w", &fs.PathError{Op: "write", Path: "/srv/aptsnap/blobs/tmp/put-1", Err: syscall.ENOSPC}),
		fmt.Errorf("blob: write: %w", &fs.PathError{Op: "open", Path: "/srv/aptsnap/blobs/tmp/put-1", Err: syscall.EROFS}),
		get(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
		get(&net.DNSError{Err: "no such host", Name: "deb.example.org"}),
		get(io.ErrUnexpectedEOF),
		fmt.Errorf("GET http://deb.example.org/debian/pool/x.deb: %w", io.ErrUnexpectedEOF),
		errors.New(`bookworm-updates: InRelease: Suite is "bookworm", not "bookworm-updates"`),
		errors.New("bookworm: InRelease: field Date appears twice"),
	} {
		msg := (&mirror.Error{Archive: "debian", Err: err}).Error()
		if got, want := failureReason(msg), mirror.Reason(err); got != want {
			t.Errorf("%q: %s, the mirror says %s", msg, got, want)
		}
	}
	// Errors the mirror does not export, by the messages it records.
	for msg, want := range map[string]string{
		"pulse debian: GET http://deb.example.org/debian/dists/bookworm/InRelease: not found upstream":                                 "missing",
		"pulse debian: bookworm: not found upstream: upstream Release lists main/i18n/Translation-en, but serves none of its variants": "missing",
		"pulse debian: busy: another pulse of debian is running":                                                                       "busy",
		"pulse debian: interrupted (context canceled): nothing changed; the next pulse starts over":                                    "interrupted",
		"pulse debian: GET http://deb.example.org/debian/dists/bookworm/InRelease: 503 Service Unavailable":                            "unreachable",
		"pulse debian: GET http://deb.example.org/debian/pool/x.deb: refusing a redirect: only http and https":                         "other",
		"pulse debian: open /etc/apt/keyrings/missing.gpg: no such file or directory":                                                  "other",
	} {
		if got := failureReason(msg); got != want {
			t.Errorf("%q: %s, want %s", msg, got, want)
		}
	}
}

// TestWebDurations: what a pulse or a diff took reads right below a second.
func TestWebDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                           "0 ms",
		40 * time.Microsecond:       "< 0.1 ms",
		400 * time.Microsecond:      "0.4 ms",
		980 * time.Microsecond:      "1 ms",
		36 * time.Millisecond:       "36 ms",
		400 * time.Millisecond:      "0.4 s",
		1234 * time.Millisecond:     "1.2 s",
		12 * time.Second:            "12 s",
		185 * time.Second:           "3m 5s",
		2*time.Hour + 5*time.Minute: "2h 5m",
	} {
		if got := took(d); got != want {
			t.Errorf("took(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 10 << 20: "10 MiB", 3<<30 + 400<<20: "3.4 GiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
	// On the pages: the pulse log and its picture.
	page := serveWeb(t, newWeb(history(), Options{}), "/ui/debian/")
	log := find(t, page, `(?s)<table id="pulse-log".*?</table>`)
	for _, want := range []string{">12 s<", ">0.4 s<", ">36 ms<", ">3m 5s<"} {
		if !strings.Contains(log, want) {
			t.Errorf("pulse log lacks %q: %s", want, log)
		}
	}
	if strings.Contains(page, "(0s)") || strings.Contains(page, ">0s<") {
		t.Errorf("a duration reads 0s")
	}
	chart := find(t, page, `(?s)<svg class="chart pulses".*?</svg>`)
	for _, want := range []string{`data-took="0.4 s"`, `data-took="36 ms"`} {
		if !strings.Contains(chart, want) {
			t.Errorf("pulse chart lacks %s", want)
		}
	}
}

// TestWebPictures: the archive page's pictures, as SVG with no script: a
// timeline bar per snapshot colored by how it stands (expired, bumped,
// about to expire), the tags and the time now; a bar per pulse; a bar
// per snapshot of what its snapshots hold.
func TestWebPictures(t *testing.T) {
	c := history()
	page := serveWeb(t, newWeb(c, Options{}), "/ui/debian/")
	if strings.Contains(page, "<script") {
		t.Error("the archive page has a script")
	}
	// (Its markers are nested pictures: up to the legend.)
	tl := find(t, page, `(?s)<svg class="chart timeline".*?</svg>\s*<p class="legend">`)
	if n := strings.Count(tl, `<rect class="bar `); n != len(c.snaps) {
		t.Errorf("timeline: %d bars for %d snapshots", n, len(c.snaps))
	}
	for serial, class := range map[string]string{"2026111801": "bar expired", "2026111901": "bar live bumped", "2026112001": "bar soon", "2026112801": "bar live"} {
		if !strings.Contains(tl, `<rect class="`+class+`" data-serial="`+serial+`"`) {
			t.Errorf("timeline: no %q bar for %s", class, serial)
		}
	}
	if n := strings.Count(tl, `class="bump"`); n != 1 {
		t.Errorf("timeline: %d bump marks, want 1", n)
	}
	find(t, tl, `<g class="tag" data-tag="6.1"><title>tag 6.1: made 2026-11-19 12:00 UTC, never expires</title>`)
	find(t, tl, `<line class="now" x1="[0-9.]+%"`)
	find(t, tl, `(?s)<g class="snap" data-serial="2026111801"><title>[^<]*the next garbage collection deletes it</title>`)
	// Newest on top.
	if strings.Index(tl, `data-serial="2026112801"`) > strings.Index(tl, `data-serial="2026111801"`) {
		t.Error("timeline: the newest snapshot is not on top")
	}

	pulses := find(t, page, `(?s)<svg class="chart pulses".*?</svg>`)
	if n := strings.Count(pulses, `<rect class="bar pulse `); n != len(c.pulses) {
		t.Errorf("pulse chart: %d bars for %d pulses", n, len(c.pulses))
	}
	find(t, pulses, `<rect class="bar pulse failed" data-took="12 s" data-reason="unreachable"`)
	if n := strings.Count(pulses, `<rect class="bytes"`); n != 3 {
		t.Errorf("pulse chart: %d bytes bars, want one per successful pulse", n)
	}

	st := find(t, page, `(?s)<svg class="chart storage".*?</svg>`)
	if n := strings.Count(st, `<rect class="bar held"`); n != len(c.snaps) {
		t.Errorf("storage chart: %d bars for %d snapshots", n, len(c.snaps))
	}
	find(t, st, `<g class="snap collect" data-serial="2026111801"><title>2026111801: 10 MiB held with the older snapshots, 10 MiB new in it`)
	find(t, st, `<title>2026112801: 14 MiB held with the older snapshots, 512 KiB new in it, 11 MiB in it \(10 files\)</title>`)
	// The oldest on the left: x grows with the serial.
	xs := regexp.MustCompile(`<rect class="bar held" data-serial="(\d+)" x="([0-9.]+)%"`).FindAllStringSubmatch(st, -1)
	for i := 1; i < len(xs); i++ {
		x0, _ := strconv.ParseFloat(xs[i-1][2], 64)
		x1, _ := strconv.ParseFloat(xs[i][2], 64)
		if xs[i][1] <= xs[i-1][1] || x1 <= x0 {
			t.Errorf("storage chart: %s at %s%% drawn before %s at %s%%", xs[i-1][1], xs[i-1][2], xs[i][1], xs[i][2])
		}
	}
	// The table says the same, in words.
	for serial, want := range map[string]string{
		"2026111801": "next GC deletes it", "2026111901": `<span class="badge bumped"`, "2026112001": `class="warn">in 10h 0m`,
	} {
		if row := find(t, page, `(?s)<tr class="snapshot" data-serial="`+serial+`">.*?</tr>`); !strings.Contains(row, want) {
			t.Errorf("snapshot %s: row lacks %q: %s", serial, want, row)
		}
	}
	find(t, page, `4 snapshots holding 14 MiB · <span class="warn">1 expired: the next GC deletes it</span>`)

	// The usage is read once while the snapshots stay the same.
	c.usages = 0
	h := newWeb(c, Options{})
	serveWeb(t, h, "/ui/debian/")
	serveWeb(t, h, "/ui/debian/")
	if c.usages != 1 {
		t.Errorf("usage read %d times for two views", c.usages)
	}
	c.snaps[1].ValidUntil = c.snaps[1].ValidUntil.Add(time.Hour) // bumped again
	serveWeb(t, h, "/ui/debian/")
	if c.usages != 2 {
		t.Errorf("usage not read again after a bump")
	}

	// Many snapshots: the newest are drawn, the rest said.
	many := &fakeCatalog{suites: map[int64]map[string]catalog.Suite{}}
	for i := range timelineMax + 5 {
		at := webNow.Add(-time.Duration(timelineMax+5-i) * 6 * time.Hour)
		many.snaps = append(many.snaps, catalog.Snapshot{ID: int64(i + 1), Archive: "debian", Serial: at.Format("20060102") + fmt.Sprintf("%02d", i%4+1),
			Created: at, ValidUntil: at.Add(240 * time.Hour)})
	}
	tl = find(t, serveWeb(t, newWeb(many, Options{}), "/ui/debian/"), `(?s)<svg class="chart timeline".*?</svg>\s*<p class="legend">.*?</p>`)
	if n := strings.Count(tl, `<rect class="bar `); n != timelineMax || !strings.Contains(tl, "5 older not drawn") {
		t.Errorf("timeline of %d snapshots: %d bars", timelineMax+5, n)
	}
}

// TestWebTags: the tag list, linked from every page.
func TestWebTags(t *testing.T) {
	c := history()
	c.tags = append(c.tags,
		catalog.Snapshot{Archive: "debian-security", Serial: "@6.1", Created: webNow.Add(-11*24*time.Hour + time.Second)},
		catalog.Snapshot{Archive: "debian", Serial: "@7.0~rc1", Created: webNow.Add(-time.Hour)})
	h := newWeb(c, Options{})
	for _, path := range []string{"/ui/", "/ui/debian/", "/ui/-/storage"} {
		if !strings.Contains(serveWeb(t, h, path), `<a href="/ui/-/tags">Tags</a>`) {
			t.Errorf("%s: no link to the tags", path)
		}
	}
	page := serveWeb(t, h, "/ui/-/tags")
	rows := regexp.MustCompile(`(?s)<tr class="tag" data-tag="([^"]+)">(.*?)</tr>`).FindAllStringSubmatch(page, -1)
	if len(rows) != 2 || rows[0][1] != "7.0~rc1" || rows[1][1] != "6.1" {
		t.Fatalf("tags: %q, want 7.0~rc1 then 6.1", rows)
	}
	if r := rows[1][2]; !strings.Contains(r, `<a href="/ui/debian/@6.1/">debian</a>, <a href="/ui/debian-security/@6.1/">debian-security</a>`) ||
		!strings.Contains(r, `<time datetime="2026-11-19T12:00:00Z">`) {
		t.Errorf("tag 6.1: %s", r)
	}
	c.tags = nil
	if page := serveWeb(t, h, "/ui/-/tags"); !strings.Contains(page, "No tag yet") {
		t.Errorf("no tags: %s", page)
	}
}

// TestWebStorage: the storage page shows the GC dry run (run once for a
// few minutes of views) against what the store holds, and each
// archive's storage.
func TestWebStorage(t *testing.T) {
	ctx := context.Background()
	store, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{3000, 1000} {
		if _, err := store.Put(ctx, bytes.NewReader(bytes.Repeat([]byte{byte(n)}, n)), blob.Digest{}, -1); err != nil {
			t.Fatal(err)
		}
	}
	c := history()
	runs := 0
	gc := func(context.Context) (GCPreview, error) {
		runs++
		return GCPreview{Expired: c.snaps[:1], Files: 1, Bytes: 1000, Kept: 1}, nil
	}
	h := newWeb(c, Options{Store: store, GC: gc})
	page := serveWeb(t, h, "/ui/-/storage")
	find(t, page, `<p id="gc-summary">It would delete 1 expired snapshot and <b>1 stored file, 1000 B</b>, and keep 1 file of the 3.9 KiB stored.`)
	find(t, page, `<rect class="free" x="75.00%" width="25.00%"`)
	find(t, page, `(?s)<tr class="expired" data-archive="debian" data-serial="2026111801">.*?expired 2d 0h ago`)
	row := find(t, page, `(?s)<tr class="archive" data-archive="debian">.*?</tr>`)
	for _, want := range []string{">4<", ">14 MiB<", ">11 MiB<", ">1 snapshot<"} {
		if !strings.Contains(row, want) {
			t.Errorf("storage: debian row lacks %q: %s", want, row)
		}
	}
	find(t, page, `<g class="archive" data-archive="debian"><title>debian: 14 MiB held by 4 snapshots, 11 MiB referenced by the newest</title>`)
	serveWeb(t, h, "/ui/-/storage")
	if runs != 1 {
		t.Errorf("%d dry runs for two views", runs)
	}

	busy := func(context.Context) (GCPreview, error) {
		return GCPreview{}, errors.New("gc: already exists: another garbage collection is running")
	}
	page = serveWeb(t, newWeb(history(), Options{GC: busy}), "/ui/-/storage")
	find(t, page, `<p class="err" id="gc-error">gc: already exists: another garbage collection is running</p>`)
	page = serveWeb(t, newWeb(history(), Options{}), "/ui/-/storage")
	if strings.Contains(page, "gc-summary") || !strings.Contains(page, "aptsnap gc --dry-run") {
		t.Errorf("storage without a dry run: %s", page)
	}
}

// TestWebTimelineAxis: a tag made long ago or a snapshot bumped for a
// year do not squash the timeline: its axis reaches 45 days either side
// of now at most, and they sit at its edges.
func TestWebTimelineAxis(t *testing.T) {
	day := 24 * time.Hour
	row := func(serial string, created time.Time, valid time.Duration) snapRow {
		return snapRow{Serial: serial, Created: created, ValidUntil: created.Add(valid)}
	}
	snaps := []snapRow{
		row("2026112801", webNow.Add(-2*day), 10*day),
		row("2026112001", webNow.Add(-10*day), 400*day), // bumped for a year
	}
	tags := []snapRow{{Tag: "5.0", Serial: "@5.0", Created: webNow.Add(-700 * day)}}
	tl := newTimeline("debian", snaps, tags, webNow)
	if len(tl.Bars) != 2 || len(tl.Tags) != 1 {
		t.Fatalf("timeline: %+v", tl)
	}
	if x := tl.Tags[0].X; x != 0 {
		t.Errorf("a tag made before the axis is at %.1f%%, want its left edge", x)
	}
	if b := tl.Bars[1]; b.X+b.W < 99 || b.X > 5 {
		t.Errorf("the bar bumped for a year: %.1f%% to %.1f%%, want the whole width", b.X, b.X+b.W)
	}
	if b := tl.Bars[0]; b.W < 5 {
		t.Errorf("the newest snapshot's bar is %.1f%% wide: squashed", b.W)
	}
	// From 10 days ago (the oldest snapshot) to 45 days ahead.
	if tl.Now < 17 || tl.Now > 21 {
		t.Errorf("now at %.1f%%, want about 10/55 of the way", tl.Now)
	}
}
