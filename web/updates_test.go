package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/sqlite"
	"github.com/aptsnap/aptsnap/stable"
)

// updNow is the UI's clock in the update tests.
var updNow = time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)

const fpr = "0123456789ABCDEF0123456789ABCDEF01234567"

// updCatalog opens a real catalog holding reqs, created in order (their
// IDs are 1, 2, ...).
func updCatalog(t *testing.T, reqs ...stable.Request) *sqlite.Catalog {
	t.Helper()
	ctx := context.Background()
	cat, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	for i, r := range reqs {
		doc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		cr, err := cat.CreateRequest(ctx, catalog.Request{Series: r.SeriesName(), State: string(r.State), Doc: doc})
		if err != nil {
			t.Fatal(err)
		}
		if cr.ID != int64(i+1) {
			t.Fatalf("request %d created as %d", i+1, cr.ID)
		}
	}
	return cat
}

// sampleRequests are requests in every state, as the stable engine
// writes them.
func sampleRequests() []stable.Request {
	day := 24 * time.Hour
	ago := func(d time.Duration) time.Time { return updNow.Add(-d) }
	sections := func(impact string) map[string]string {
		return map[string]string{"Impact": impact, "Major Changes": "New upstream release.", "Test Plan": "$ sh smoke.sh",
			"Where problems could occur": "Renewals with the Apache plugin.", "Other Info": "None."}
	}
	base := func(state stable.State, sources []string, version string) stable.Request {
		return stable.Request{Archive: "ours", Series: "stable", Sources: sources, Version: version, Kind: stable.BugFix, State: state,
			Sections: sections("Fixes renewals."), Creator: "rita", Created: ago(20 * day), Updated: ago(day),
			History: []stable.Event{{At: ago(20 * day), By: "rita", Action: "new", To: stable.Draft}}}
	}
	check := func(name string, passed bool, log string) stable.Check {
		return stable.Check{Name: name, Passed: passed, Started: ago(2 * day), Duration: 1500 * time.Millisecond, Log: log}
	}

	// 1: in -proposed 3 days, its verification failed.
	r1 := base(stable.VerificationFailed, []string{"acmelib", "acmeclient"}, "2.0")
	r1.Sections = sections("Renewals fail. <script>alert(1)</script>")
	r1.Submitter, r1.Reviewer = "rita", "bob"
	r1.Draft = "acmelib 1.0-1 -> 2.0-1\n  Breaks: acme-dashboard (<< 5.0)"
	r1.Uploads = []stable.Upload{{At: ago(5 * day), By: "rita", Changes: map[string]string{"acmelib_2.0-1_amd64.changes": fpr, "acmeclient_2.0-1_amd64.changes": fpr},
		Sources: map[string]string{"acmelib": "2.0-1", "acmeclient": "2.0-1"}, Serial: "2026120701",
		Files: []stable.File{{Name: "acmelib_2.0-1.dsc", Size: 1000}, {Name: "acmelib_2.0-1.tar.gz", Size: 2048}}}}
	r1.Proposed = map[string]string{"acmelib": "2.0-1", "acmeclient": "2.0-1"}
	r1.ProposedAt, r1.ProposedSerial = ago(3*day+2*time.Hour), "2026120701"
	r1.Verifications = []stable.Verification{{
		Report: stable.Report{Versions: r1.Proposed, Serials: map[string]string{"ours/stable": "2026120702"}, Binaries: map[string]string{"acmeclient": "2.0-1"},
			Checks: []stable.Check{check("install the family from stable-proposed", true, "Setting up acmeclient (2.0-1) ...\n"),
				{Name: "test plan", Command: "sh smoke.sh", Started: ago(2 * day), Duration: 3 * time.Second, Log: "testing acmeclient\nselftest FAILED <b>bold</b>\n"},
				check("reverse dependencies", false, "")}},
		By: "rita", At: ago(2 * day)}}
	r1.History = append(r1.History,
		stable.Event{At: ago(6 * day), By: "rita", Action: "submit", From: stable.Draft, To: stable.Submitted},
		stable.Event{At: ago(3*day + 2*time.Hour), By: "bob", Action: "accept", From: stable.Submitted, To: stable.VerificationNeeded, Note: "into stable-proposed 2026120701"},
		stable.Event{At: ago(2 * day), By: "rita", Action: "verify", From: stable.VerificationNeeded, To: stable.VerificationFailed, Note: "3 checks; failed: test plan, reverse dependencies"})

	// 2: released 2 days ago after 8 days in -proposed, phasing, halted at 30 %.
	r2 := base(stable.Released, []string{"certbot"}, "2.9.0")
	r2.Proposed = map[string]string{"certbot": "2.9.0-1"}
	r2.ProposedAt, r2.ReleasedAt = ago(10*day), ago(2*day)
	r2.Released = r2.Proposed
	r2.Verifications = []stable.Verification{{Report: stable.Report{Versions: r2.Proposed, Checks: []stable.Check{check("install", true, "ok\n")}},
		By: "bob", At: ago(5 * day), Passed: true, Comment: "Verification by bob: certbot 2.9.0-1;"}}
	r2.Phase, r2.PhaseChanged, r2.Halted = 30, ago(day), true

	// 3: a draft, nothing uploaded.
	r3 := base(stable.Draft, []string{"nginx"}, "1.26.3")

	// 4: submitted, a superseded upload then the one waiting.
	r4 := base(stable.Submitted, []string{"foo"}, "1.2")
	r4.Uploads = []stable.Upload{
		{At: ago(4 * day), By: "rita", Sources: map[string]string{"foo": "1.2-1"}, Changes: map[string]string{"foo_1.2-1_amd64.changes": fpr}, Superseded: true},
		{At: ago(3 * day), By: "rita", Sources: map[string]string{"foo": "1.2-2"}, Changes: map[string]string{"foo_1.2-2_amd64.changes": fpr}},
	}

	// 5: rejected; 6: released to every machine.
	r5 := base(stable.Rejected, []string{"bar"}, "0.9")
	r5.Updated = ago(3 * day)
	r6 := base(stable.Released, []string{"baz"}, "5.0")
	r6.Proposed, r6.Released, r6.ProposedAt, r6.ReleasedAt, r6.Phase = map[string]string{"baz": "5.0-1"}, map[string]string{"baz": "5.0-1"}, ago(15*day), ago(7*day), 100
	r6.Updated = ago(2 * day)

	// 7: verified, 8 days in -proposed; 8: accepted an hour ago.
	r7 := base(stable.VerificationDone, []string{"qux"}, "3.0")
	r7.Proposed, r7.ProposedAt = map[string]string{"qux": "3.0-1"}, ago(8*day+time.Hour)
	r7.Verifications = []stable.Verification{{Report: stable.Report{Versions: r7.Proposed, Checks: []stable.Check{check("install", true, "ok\n")}},
		By: "bob", At: ago(day), Passed: true}}
	r8 := base(stable.VerificationNeeded, []string{"quux"}, "0.1")
	r8.Proposed, r8.ProposedAt = map[string]string{"quux": "0.1-1"}, ago(time.Hour)
	return []stable.Request{r1, r2, r3, r4, r5, r6, r7, r8}
}

func updUI(t *testing.T, reqs ...stable.Request) *UI {
	return New(Options{Catalog: updCatalog(t, reqs...), Archives: []string{"ours"}, Now: func() time.Time { return updNow }})
}

func get(h *UI, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

// row returns the report's row of request id.
func row(t *testing.T, body string, id int) string {
	t.Helper()
	return find(t, body, fmt.Sprintf(`(?s)<tr class="update" data-id="%d" .*?</tr>`, id))
}

func TestWebUpdates(t *testing.T) {
	h := updUI(t, sampleRequests()...)
	body := serveWeb(t, h, "/ui/-/updates")
	find(t, body, `<a href="/ui/-/storage">Storage</a><a href="/ui/-/updates">Updates</a>`)
	find(t, body, `<p class="mute" id="summary"><span class="nw" data-state="draft">1 draft</span> · <span class="nw" data-state="submitted">1 submitted</span> · `+
		`<span class="nw" data-state="verification-needed">1 verification-needed</span> · <span class="nw" data-state="verification-failed">1 verification-failed</span> · `+
		`<span class="nw" data-state="verification-done">1 verification-done</span> · <span class="nw" data-state="released">2 released</span> · <span class="nw" data-state="rejected">1 rejected</span></p>`)
	if strings.Contains(body, `id="cut"`) {
		t.Error("the report says it was cut")
	}

	// The groups in process order, drafts, then done; each request in its own.
	groups := regexp.MustCompile(`<section class="group" id="([a-z-]+)">`).FindAllStringSubmatch(body, -1)
	var order []string
	for _, g := range groups {
		order = append(order, g[1])
	}
	if got, want := strings.Join(order, " "), "submitted verification-needed verification-failed verification-done phasing draft done"; got != want {
		t.Errorf("groups: %s, want %s", got, want)
	}
	in := map[int]string{1: "verification-failed", 2: "phasing", 3: "draft", 4: "submitted", 5: "done", 6: "done", 7: "verification-done", 8: "verification-needed"}
	for id, group := range in {
		sec := find(t, body, `(?s)<section class="group" id="`+group+`">.*?</section>`)
		if !strings.Contains(sec, fmt.Sprintf(`data-id="%d"`, id)) {
			t.Errorf("update %d is not in %s", id, group)
		}
	}
	// The newest done with first.
	done := find(t, body, `(?s)<section class="group" id="done">.*?</section>`)
	if strings.Index(done, `data-id="6"`) > strings.Index(done, `data-id="5"`) {
		t.Errorf("done: not newest first: %s", done)
	}

	for _, tc := range []struct {
		id   int
		want []string
		not  []string
	}{
		{1, []string{`<a href="/ui/-/updates/1">#1</a>`, ">ours/stable<", `acmelib <span class="mono v">2.0-1</span>`, `acmeclient <span class="mono v">2.0-1</span>`,
			`<span class="state verification-failed">verification-failed</span>`, `title="since 2026-12-07 10:00 UTC">3 days</span>`, ">bugfix<",
			`<span class="bad">failed</span> <small class="mute">#1 by rita, <time datetime="2026-12-08T12:00:00Z">`,
			`<a class="log" href="/ui/-/updates/1/verifications/1/checks/2/log">test plan</a>`, `✗ reverse dependencies</small>`},
			[]string{"install the family"}},
		{2, []string{`certbot <span class="mono v">2.9.0-1</span>`, ">8 days</span><br><small class=\"mute\">until released", `<span class="nw">30 %</span> <span class="bad halted">halted</span>`,
			`<span class="ok">passed</span>`}, nil},
		{3, []string{`nginx<br><small class="mute">upstream <span class="mono">1.26.3</span>, nothing uploaded</small>`, `<span class="state draft">draft</span>`,
			`<td data-label="In -proposed" class="n days">—</td>`, `<span class="mute">none</span>`}, nil},
		{4, []string{`foo <span class="mono v">1.2-2</span>`}, []string{"1.2-1"}},
		{5, []string{`<span class="state rejected">rejected</span>`, `<time datetime="2026-12-07T12:00:00Z">`}, nil},
		{6, []string{`baz <span class="mono v">5.0-1</span>`, `<span class="state released">released</span>`}, nil},
		{7, []string{">8 days</span>", `<span class="ok">passed</span>`}, nil},
		{8, []string{">0 days</span>", `<span class="mute">none</span>`}, nil},
	} {
		r := row(t, body, tc.id)
		for _, w := range tc.want {
			if !strings.Contains(r, w) {
				t.Errorf("update %d: the row lacks %q:\n%s", tc.id, w, r)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(r, w) {
				t.Errorf("update %d: the row holds %q:\n%s", tc.id, w, r)
			}
		}
	}
}

func TestWebUpdatePage(t *testing.T) {
	h := updUI(t, sampleRequests()...)
	body := serveWeb(t, h, "/ui/-/updates/1")
	if strings.Contains(body, "<script") || strings.Contains(body, "<b>bold") {
		t.Errorf("the page holds a script or a log's markup:\n%s", body)
	}
	for _, want := range []string{
		`<title>Update 1 · aptsnap</title>`,
		`<nav>/ <a href="/ui/-/updates">updates</a></nav> <nav>/ update 1</nav>`,
		`<h1>Update 1: acmelib, acmeclient <span class="mono">2.0</span></h1>`,
		`<p id="state"><span class="state verification-failed">verification-failed</span> bugfix update in ours/stable</p>`,
		`<span class="nw">acmelib <span class="mono v">2.0-1</span></span>, <span class="nw">acmeclient <span class="mono v">2.0-1</span></span><br><small class="mute">since <time datetime="2026-12-07T10:00:00Z">`,
		`· <span class="days">3 days</span> · snapshot <a class="mono" href="/ui/ours/2026120701/">2026120701</a>`,
		`<tr><th>Reviewed by</th><td>bob</td></tr>`,
		// Every section, escaped.
		`<section class="section" data-section="Impact"><h3>[Impact]</h3><pre class="text">Renewals fail. &lt;script&gt;alert(1)&lt;/script&gt;</pre></section>`,
		`<section class="section" data-section="Other Info"><h3>[Other Info]</h3><pre class="text">None.</pre></section>`,
		// The upload: in -proposed, its .changes and who signed them.
		`in -proposed <a class="mono" href="/ui/ours/2026120701/">2026120701</a>`,
		`<span class="mono wrap">acmelib_2.0-1_amd64.changes</span><br><small class="mute mono wrap">` + fpr + `</small>`,
		`2 files, 3.0 KiB`,
		`<pre id="major-changes-draft">acmelib 1.0-1 -&gt; 2.0-1
  Breaks: acme-dashboard (&lt;&lt; 5.0)</pre>`,
		// The verification: each check, its outcome, how long, its log.
		`<h3>Verification 1: <span class="bad">failed</span> <small class="mute">by rita, <time datetime="2026-12-08T12:00:00Z">`,
		`Snapshots used: <span class="nw">ours/stable <a class="mono" href="/ui/ours/2026120702/">2026120702</a></span>`,
		`Installed: <span class="nw">acmeclient <span class="mono">2.0-1</span></span>`,
		`<b>test plan</b><br><code class="wrap">sh smoke.sh</code></td>`,
		`<span class="bad">FAILED</span></td><td data-label="Started"><time datetime="2026-12-08T12:00:00Z">`,
		`<td data-label="Took" class="n">3.0 s</td>`,
		`<a class="log" href="/ui/-/updates/1/verifications/1/checks/2/log">log</a>`,
		`<a class="log" href="/ui/-/updates/1/verifications/1/checks/1/log">log</a>`,
		`<td data-label="Log"><span class="mute">none</span></td>`,
		`<p class="mute">Not released.</p>`,
		// The history.
		`<tr class="event" data-action="accept"><td data-label="When" class="nw"><time datetime="2026-12-07T10:00:00Z">`,
		`<td data-label="State"><span class="nw">submitted</span> → <b class="nw">verification-needed</b></td><td data-label="Note" class="wide wrap">into stable-proposed 2026120701</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("update 1 lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}

	// The released one: phasing, halted; its days in -proposed end at the release.
	body = serveWeb(t, h, "/ui/-/updates/2")
	for _, want := range []string{`<p id="phase"><b>30 %</b> of machines take it · <span class="bad halted">halted</span>`,
		`<rect class="phased" x="0" width="30%"`, `<span class="days">8 days</span> until released`,
		`into stable-updates <time datetime="2026-12-08T12:00:00Z">`, `<pre class="comment">Verification by bob: certbot 2.9.0-1;</pre>`} {
		if !strings.Contains(body, want) {
			t.Errorf("update 2 lacks %q:\n%s", want, body)
		}
	}
	// The submitted one: a superseded upload, one waiting.
	body = serveWeb(t, h, "/ui/-/updates/4")
	find(t, body, `(?s)<tr class="upload" data-n="1">.*?<span class="mute">superseded</span>`)
	find(t, body, `(?s)<tr class="upload" data-n="2">.*?<span class="warn">waiting</span>`)
	find(t, body, `<p class="mute">None yet.</p>`)
	// The draft: nothing uploaded.
	body = serveWeb(t, h, "/ui/-/updates/3")
	find(t, body, `None yet: <code>aptsnap update upload 3 FILE.changes…</code>`)
	find(t, body, `<p class="mute">None: no upload yet.</p>`)
}

func TestWebUpdateLogs(t *testing.T) {
	h := updUI(t, sampleRequests()...)
	// Every log link of the report and of the page answers with the log.
	links := map[string]bool{}
	for _, page := range []string{"/ui/-/updates", "/ui/-/updates/1", "/ui/-/updates/2"} {
		for _, m := range regexp.MustCompile(`<a class="log" href="([^"]+)">`).FindAllStringSubmatch(serveWeb(t, h, page), -1) {
			links[m[1]] = true
		}
	}
	want := map[string]string{
		"/ui/-/updates/1/verifications/1/checks/1/log": "Setting up acmeclient (2.0-1) ...\n",
		"/ui/-/updates/1/verifications/1/checks/2/log": "testing acmeclient\nselftest FAILED <b>bold</b>\n",
		"/ui/-/updates/2/verifications/1/checks/1/log": "ok\n",
	}
	for link, text := range want {
		if !links[link] {
			t.Errorf("no link to %s (links: %v)", link, links)
		}
		rec := get(h, link)
		if rec.Code != 200 || rec.Body.String() != text || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" ||
			rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d %q %v, want 200 %q as text", link, rec.Code, rec.Body, rec.Header(), text)
		}
	}
	if len(links) != len(want) {
		t.Errorf("log links %v, want those of %v", links, want)
	}
}

func TestWebUpdateErrors(t *testing.T) {
	h := updUI(t, sampleRequests()...)
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/ui/-/updates/99", 404, "no update 99"},
		{"/ui/-/updates/0", 404, "no update 0"},
		{"/ui/-/updates/abc", 400, `bad update id &#34;abc&#34;`},
		{"/ui/-/updates/%3Cscript%3E", 400, `bad update id &#34;&lt;script&gt;&#34;`},
		{"/ui/-/updates/99999999999999999999", 400, "bad update id"},
		{"/ui/-/updates/1/verifications/2/checks/1/log", 404, "update 1 has no verification 2"},
		{"/ui/-/updates/1/verifications/0/checks/1/log", 404, "update 1 has no verification 0"},
		{"/ui/-/updates/1/verifications/1/checks/4/log", 404, "verification 1 of update 1 has no check 4"},
		{"/ui/-/updates/1/verifications/1/checks/0/log", 404, "has no check 0"},
		{"/ui/-/updates/3/verifications/1/checks/1/log", 404, "update 3 has no verification 1"},
		{"/ui/-/updates/99/verifications/1/checks/1/log", 404, "no update 99"},
		{"/ui/-/updates/1/verifications/x/checks/1/log", 400, "bad verification or check number"},
		{"/ui/-/updates/x/verifications/1/checks/1/log", 400, "bad update id"},
		{"/ui/-/updates/1/verifications/1/checks/1", 404, "not found"},
		{"/ui/-/updates/1/nope", 404, "not found"},
	} {
		rec := get(h, tc.path)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.msg) || strings.Contains(rec.Body.String(), "<script>") {
			t.Errorf("GET %s: %d, want %d with %q:\n%s", tc.path, rec.Code, tc.code, tc.msg, rec.Body)
		}
	}
	if rec := get(h, "/ui/-/updates/"); rec.Code != 301 || rec.Header().Get("Location") != "/ui/-/updates" {
		t.Errorf("GET /ui/-/updates/: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	// No request at all.
	body := serveWeb(t, updUI(t), "/ui/-/updates")
	find(t, body, `No update request yet`)
}

// TestWebUpdatesBounded: the report reads at most maxUpdates requests,
// those under way first, says so, and lists at most doneRows done with.
func TestWebUpdatesBounded(t *testing.T) {
	defer func(m, d int) { maxUpdates, doneRows = m, d }(maxUpdates, doneRows)
	maxUpdates, doneRows = 6, 2
	var reqs []stable.Request
	for i := range 8 {
		r := stable.Request{Archive: "ours", Series: "stable", Sources: []string{fmt.Sprintf("p%d", i+1)}, Version: "1.0", Kind: stable.BugFix,
			State: stable.Released, Phase: 100, Updated: updNow.Add(time.Duration(i) * time.Hour)}
		if i == 0 {
			// The oldest, still under way: listed however many come after.
			r.State, r.Proposed, r.ProposedAt = stable.VerificationNeeded, map[string]string{"p1": "1.0-1"}, updNow.Add(-40*24*time.Hour)
		}
		reqs = append(reqs, r)
	}
	body := serveWeb(t, updUI(t, reqs...), "/ui/-/updates")
	find(t, body, `<p class="warn" id="cut">Read 6 of 8 requests: every one under way, then the newest done with; the 2 oldest released or rejected are not listed`)
	row(t, body, 1)
	find(t, body, `>40 days</span>`)
	done := find(t, body, `(?s)<section class="group" id="done">.*?</section>`)
	if !strings.Contains(done, "the newest 2 of 5") || !strings.Contains(done, `data-id="8"`) || !strings.Contains(done, `data-id="7"`) ||
		strings.Contains(done, `data-id="6"`) {
		t.Errorf("done: %s", done)
	}
}
