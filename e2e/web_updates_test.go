package e2e

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/stable"
)

// TestWebUpdates drives stable update requests into the states a release
// team sees on the pending-updates report, with the real CLI, apt-get and
// test plan: update 1 verification-failed (its test plan fails), update 2
// released and phasing, update 3 a draft, update 4 submitted with its
// upload waiting. It then loads the report and update 1's page in real
// headless Chromium, checks what they show (states, versions, days in
// -proposed, a log link that answers with the log), that neither
// overflows sideways at 1280 and 390 pixels, and takes screenshots (copied
// to web/testdata/screenshots with APTSNAP_UPDATE_SCREENSHOTS set). The
// metrics count the requests by state.
func TestWebUpdates(t *testing.T) {
	bin := aptsnapBinary(t)
	uploader := newSigner(t, "Uploader")
	keyring := filepath.Join(t.TempDir(), "uploaders.asc")
	os.WriteFile(keyring, uploader.PublicKey(), 0o644)
	e := newEnvWith(t, seriesConfig(keyring))
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	rita := createToken(t, c, "reviewer", "rita") // writes and submits
	bob := createToken(t, c, "reviewer", "bob")   // reviews and releases
	ctx := context.Background()
	ritaAPI := &api.Client{BaseURL: e.srv.URL, Token: rita}
	show := func(id int64) *stable.Request {
		t.Helper()
		r, err := ritaAPI.UpdateShow(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	fam := &famBuilder{t: t, signer: uploader, changelog: map[string][]string{}}
	dir := t.TempDir()
	lib := pkg{name: "python3-acmelib"}
	client := func(ok bool) pkg {
		return pkg{name: "acmeclient", control: "Depends: python3-acmelib (>= 1.0)\n", files: selftest(ok)}
	}
	widget := pkg{name: "widget-tool"}
	gizmo := pkg{name: "gizmo"}
	var base []string
	base = append(base, fam.upload(dir, "acmelib", "1.0-1", "Initial release.", lib))
	base = append(base, fam.upload(dir, "acmeclient", "1.0-1", "Initial release.", client(true)))
	base = append(base, fam.upload(dir, "widget", "1.0-1", "Initial release.", widget))
	base = append(base, fam.upload(dir, "gizmo", "1.0-1", "Initial release.", gizmo))
	c.local(append([]string{"repo", "add", "ours", "stable"}, base...)...)

	script := filepath.Join(t.TempDir(), "smoke.sh")
	os.WriteFile(script, []byte(smokeScript), 0o644)
	write := func(id int64, impact, plan, other string) {
		t.Helper()
		text := fmt.Sprintf("[Impact]\n%s\n\n[Major Changes]\nNew upstream release, bug fixes only.\n\n[Test Plan]\n%s\n\n"+
			"[Where problems could occur]\nUpgrades of hosts running the family's services; they would show in their logs.\n\n[Other Info]\n%s\n", impact, plan, other)
		if _, err := ritaAPI.UpdateEdit(ctx, id, "", text); err != nil {
			t.Fatal(err)
		}
	}
	up := t.TempDir()

	// 1: the ACME family, whose client's self-test fails: verification-failed.
	c.remote(rita, "update", "new", "ours/stable", "--source", "acmelib,acmeclient", "--version", "2.0")
	c.remote(rita, "update", "upload", "1",
		fam.upload(up, "acmelib", "2.0-1", "New upstream release.", lib),
		fam.upload(up, "acmeclient", "2.0-1", "New upstream release.", client(false)))
	write(1, "Renewals fail against CAs that dropped the old challenge.", "The packaging's smoke test:\n$ sh "+script,
		"Reported as <script>alert(1)</script> by a user.")
	c.remote(rita, "update", "submit", "1")
	c.remote(bob, "update", "accept", "1")
	if out, stderr, err := c.remoteErr(rita, "update", "verify", "1"); err == nil || !strings.Contains(out, "test plan: FAILED") {
		t.Fatalf("verify of update 1: err %v\n%s%s", err, out, stderr)
	}

	// 2: widget, verified, aged a week, released phased at 10 %.
	c.remote(rita, "update", "new", "ours/stable", "--source", "widget", "--version", "1.1")
	c.remote(rita, "update", "upload", "2", fam.upload(up, "widget", "1.1-1", "New upstream release.", widget))
	write(2, "The widget leaks memory.", "$ echo widget-tool starts", "None.")
	c.remote(rita, "update", "submit", "2")
	c.remote(bob, "update", "accept", "2")
	c.remote(rita, "update", "verify", "2")
	r2 := show(2)
	if r2.State != stable.VerificationDone {
		t.Fatalf("update 2 is %s after its verification", r2.State)
	}
	e.clock.Set(r2.ProposedAt.Add(7*24*time.Hour + time.Minute))
	c.remote(bob, "update", "release", "2")

	// 3: a draft; 4: submitted, its upload waiting.
	c.remote(rita, "update", "new", "ours/stable", "--source", "nginx-lite", "--version", "1.26.3")
	c.remote(rita, "update", "new", "ours/stable", "--source", "gizmo", "--version", "3.0")
	c.remote(rita, "update", "upload", "4", fam.upload(up, "gizmo", "3.0-1", "New upstream release.", gizmo))
	write(4, "Gizmo 1.0 no longer talks to the current service.", "$ gizmo --version", "Upstream's LTS.")
	c.remote(rita, "update", "submit", "4")

	r1 := show(1)
	for id, want := range map[int64]stable.State{1: stable.VerificationFailed, 2: stable.Released, 3: stable.Draft, 4: stable.Submitted} {
		if r := show(id); r.State != want {
			t.Fatalf("update %d is %s, want %s", id, r.State, want)
		}
	}
	failed := -1
	for i, ch := range r1.Verifications[0].Checks {
		if !ch.Passed {
			failed = i
		}
	}
	if failed < 0 || r1.Verifications[0].Checks[failed].Name != "test plan" {
		t.Fatalf("update 1's failed check: %+v", r1.Verifications[0].Checks)
	}
	logPath := fmt.Sprintf("/ui/-/updates/1/verifications/1/checks/%d/log", failed+1)
	var signer string
	for _, fp := range r1.Uploads[0].Changes {
		signer = fp
	}

	// The metrics: requests by state, and update 1 a week in -proposed.
	fams := e.scrape(t)
	for state, n := range map[string]float64{"draft": 1, "submitted": 1, "verification-needed": 0, "verification-failed": 1, "verification-done": 0, "released": 1, "rejected": 0} {
		if v := value(fams, "aptsnap_update_requests", map[string]string{"state": state}); v != n {
			t.Errorf("aptsnap_update_requests{state=%q} = %v, want %v", state, v, n)
		}
	}
	if v := value(fams, "aptsnap_update_oldest_proposed_seconds", map[string]string{"series": "ours/stable"}); v < 7*24*3600 || v > 8*24*3600 {
		t.Errorf("aptsnap_update_oldest_proposed_seconds{series=\"ours/stable\"} = %v, want a week", v)
	}

	mux := http.NewServeMux()
	mux.Handle("/ui/", e.app.Handler())
	mux.HandleFunc("/test/frames", framesPage)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// The log, over plain HTTP.
	resp, err := http.Get(srv.URL + logPath)
	if err != nil {
		t.Fatal(err)
	}
	logText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		string(logText) != r1.Verifications[0].Checks[failed].Log || !strings.Contains(string(logText), "testing acmeclient from acmeclient_2.0-1_all.deb") {
		t.Fatalf("GET %s: %d %s\n%s", logPath, resp.StatusCode, resp.Header.Get("Content-Type"), logText)
	}

	if _, err := os.Stat(chromium); err != nil {
		t.Skip("no " + chromium + " (scripts/install-deps installs it): browser part skipped")
	}
	out := os.Getenv("APTSNAP_TEST_OUTPUT")
	if out == "" {
		out = t.TempDir()
	} else {
		out = filepath.Join(out, "web")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	pages := []uiPage{
		{"updates", "/ui/-/updates", [2]int{760, 1520}, func(t *testing.T, dom string) {
			match(t, dom, `<a href="/ui/-/storage">Storage</a><a href="/ui/-/updates">Updates</a>`)
			order := regexp.MustCompile(`<section class="group" id="([a-z-]+)">`).FindAllStringSubmatch(dom, -1)
			var groups []string
			for _, g := range order {
				groups = append(groups, g[1])
			}
			if got := strings.Join(groups, " "); got != "submitted verification-failed phasing draft" {
				t.Errorf("updates: groups %s", got)
			}
			for id, want := range map[int][]string{
				1: {"ours/stable", `acmelib <span class="mono v">2.0-1</span>`, `acmeclient <span class="mono v">2.0-1</span>`,
					`<span class="state verification-failed">verification-failed</span>`, ">7 days</span>", `<span class="bad">failed</span>`,
					`<a class="log" href="` + logPath + `">test plan</a>`},
				2: {`widget <span class="mono v">1.1-1</span>`, `<span class="state released">released</span>`, ">7 days</span>", "until released",
					`<span class="nw">10 %</span>`, `<span class="ok">passed</span>`},
				3: {`nginx-lite<br><small class="mute">upstream <span class="mono">1.26.3</span>, nothing uploaded</small>`, `<span class="state draft">draft</span>`},
				4: {`gizmo <span class="mono v">3.0-1</span>`, `<span class="state submitted">submitted</span>`},
			} {
				row := match(t, dom, fmt.Sprintf(`(?s)<tr class="update" data-id="%d" .*?</tr>`, id))
				for _, w := range want {
					if !strings.Contains(row, w) {
						t.Errorf("updates: update %d's row lacks %q: %s", id, w, row)
					}
				}
			}
		}},
		{"update", "/ui/-/updates/1", [2]int{2500, 3850}, func(t *testing.T, dom string) {
			for _, w := range []string{
				`<h1>Update 1: acmelib, acmeclient <span class="mono">2.0</span></h1>`,
				`<span class="state verification-failed">verification-failed</span> bugfix update in ours/stable`,
				`<span class="days">7 days</span>`,
				`<tr><th>Reviewed by</th><td>bob</td></tr>`,
				`<pre class="text">Reported as &lt;script&gt;alert(1)&lt;/script&gt; by a user.</pre>`,
				`in -proposed <a class="mono" href="/ui/ours/` + r1.ProposedSerial + `/">` + r1.ProposedSerial + `</a>`,
				`<span class="mono wrap">acmeclient_2.0-1_amd64.changes</span><br><small class="mute mono wrap">` + signer + `</small>`,
				`<pre id="major-changes-draft">acmelib 1.0-1 -&gt; 2.0-1`,
				`<h3>Verification 1: <span class="bad">failed</span> <small class="mute">by rita,`,
				`<b>test plan</b><br><code class="wrap">sh ` + script + `</code>`,
				`<b>install the family from stable-proposed</b>`,
				`<a class="log" href="` + logPath + `">log</a>`,
				`<td data-label="State"><span class="nw">verification-needed</span> → <b class="nw">verification-failed</b></td>`,
			} {
				if !strings.Contains(dom, w) {
					t.Errorf("update 1 lacks %q", w)
				}
			}
			if strings.Contains(dom, "<script>") {
				t.Errorf("update 1 has a script")
			}
		}},
		{"log", logPath, [2]int{}, func(t *testing.T, dom string) {
			// Chromium shows text as a <pre>.
			if !strings.Contains(html.UnescapeString(dom), "testing acmeclient from acmeclient_2.0-1_all.deb") {
				t.Errorf("the log in Chromium: %.2000s", dom)
			}
		}},
		{"update-2", "/ui/-/updates/2", [2]int{}, func(t *testing.T, dom string) {
			match(t, dom, `<p id="phase"><b>10 %</b> of machines take it, raised on the series' schedule`)
			match(t, dom, `<h3>Verification 1: <span class="ok">passed</span>`)
			match(t, dom, `(?s)<tr class="event" data-action="release">.*?verification-done</span> → <b class="nw">released</b>`)
		}},
	}
	checkPages(t, srv.URL, out, pages, false)
}
