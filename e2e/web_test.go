package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/repogen"
)

const chromium = "/usr/bin/chromium"

// longName is a package with a long name and long versions, in
// bookworm-updates: the diff's widest row.
const longName = "linux-image-6.1.0-28-cloud-amd64-unsigned"

func withLong(g int) func(*repogen.Repo) {
	return func(r *repogen.Repo) {
		r.Suites[1].Components["main"] = append(r.Suites[1].Components["main"], repogen.Package{
			Name: longName, Version: fmt.Sprintf("6.1.119-1~bpo11+%d", g+1), Arch: "amd64", Description: "Linux for cloud images"})
	}
}

// TestWebUI makes a history a release manager would look at (an expired
// snapshot the next GC deletes, a bumped one, one about to expire, a
// tag, a failed pulse), serves the web UI as the server does and checks
// every page: over plain HTTP for status codes and escaping, then in
// real headless Chromium for the rendered DOM, with screenshots of each
// page 1280 and 390 pixels wide and a check that none overflows
// sideways at either width (the pages have no script: a test-only
// wrapper page frames each and measures it). With
// APTSNAP_UPDATE_SCREENSHOTS set, the screenshots are also copied to
// web/testdata/screenshots.
func TestWebUI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	at := func(d time.Duration) { e.clock.Set(now.Add(d)) }
	day := 24 * time.Hour
	e.up.write(0, withLong(0), func(r *repogen.Repo) {
		r.Suites[0].Components["main"] = append(r.Suites[0].Components["main"],
			repogen.Package{Name: "old-tool", Version: "1.0-1", Arch: "amd64", Description: "gone the next day"})
	})
	at(-12 * day)
	s0 := e.mustPulse() // expired two days ago: the next GC deletes it, and old-tool with it
	e.up.write(0, withLong(0))
	at(-11 * day)
	s1 := e.mustPulse()
	if _, err := e.app.TagCreate(ctx, "6.1", map[string]string{"debian": s1.Serial}, nil); err != nil {
		t.Fatal(err)
	}
	e.up.write(1, withLong(1))
	at(-9*day - 14*time.Hour)
	s2 := e.mustPulse() // expires in 10 hours
	e.up.write(2, withLong(2))
	at(-2 * day)
	s3 := e.mustPulse()
	at(-time.Hour)
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return true
	})
	if _, err := e.pulse(); err == nil {
		t.Fatal("a pulse of an upstream answering 503 succeeded")
	}
	e.up.setFault(nil)
	at(0)
	if _, err := e.app.Bump(ctx, "debian", s1.Serial, 20, false); err != nil {
		t.Fatal(err)
	}
	// GC keeps every file written in the last second (a writer may be
	// about to reference it): the storage page's dry run would see none
	// of s0's files to delete.
	time.Sleep(1100 * time.Millisecond)

	// The server's own handler, and a test-only page measuring another.
	mux := http.NewServeMux()
	mux.Handle("/ui/", e.app.Handler())
	mux.HandleFunc("/test/frames", framesPage)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for path, want := range map[string]int{
		"/ui/":                              200,
		"/ui":                               200, // redirected
		"/ui/debian":                        200, // redirected
		"/ui/debian/":                       200,
		"/ui/-/tags":                        200,
		"/ui/-/storage":                     200,
		"/ui/-/nope":                        404,
		"/ui/debian/" + s1.Serial + "/":     200,
		"/ui/debian/@6.1/":                  200,
		"/ui/debian/package/hello":          200,
		"/ui/debian/package?name=tzdata":    200, // the search form, redirected
		"/ui/nope/":                         404,
		"/ui/debian/2099010101/":            404,
		"/ui/debian/@nope/":                 404,
		"/ui/debian/..%2f..%2fetc/":         404,
		"/ui/debian/package/nosuch":         404,
		"/ui/debian/package/Bad_Name":       400,
		"/ui/debian/diff":                   400,
		"/ui/debian/diff?from=x&to=y":       400,
		"/ui/debian/diff?from=" + s1.Serial: 400,
		"/ui/debian/diff?from=" + s1.Serial + "&to=2099010101": 404,
		"/ui/debian/diff?from=@6.1&to=" + s2.Serial:            200,
	} {
		if code, body := get(path); code != want {
			t.Errorf("GET %s: %d, want %d\n%.400s", path, code, want, body)
		}
	}
	// Whatever comes from the URL is escaped.
	code, body := get("/ui/debian/diff?from=%3Cscript%3Ealert(1)%3C/script%3E&to=" + s2.Serial)
	if code != 400 || strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("diff with a script as serial: %d\n%s", code, body)
	}
	// No page of the product has a script.
	for _, path := range []string{"/ui/", "/ui/debian/", "/ui/-/tags", "/ui/-/storage"} {
		if _, body := get(path); strings.Contains(body, "<script") {
			t.Errorf("GET %s has a script", path)
		}
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

	upstream := strings.TrimPrefix(e.up.url(), "http://")
	pages := []uiPage{
		{"archives", "/ui/", [2]int{700, 1000}, func(t *testing.T, dom string) {
			row := match(t, dom, `(?s)<tr class="archive" data-archive="debian">.*?</tr>`)
			for _, w := range []string{">failed<", `<span class="reason">unreachable</span>`, "last success",
				s3.Created.UTC().Format(`datetime="2006-01-02T15:04:05Z"`), ">" + s3.Serial + "<", "expires in 7d", ">4<", "+1 tag<"} {
				if !strings.Contains(row, w) {
					t.Errorf("archives: debian row lacks %q: %s", w, row)
				}
			}
			if strings.Contains(row, upstream) || strings.Contains(row, "503") {
				t.Errorf("archives: the debian row holds the failure's text: %s", row)
			}
			match(t, dom, `<a href="/ui/-/tags">Tags</a><a href="/ui/-/storage">Storage</a>`)
		}},
		{"archive", "/ui/debian/", [2]int{2100, 3700}, func(t *testing.T, dom string) {
			for s, want := range map[string]string{s1.Serial: "in 19d", s2.Serial: "in 9h", s3.Serial: "in 7d"} {
				row := match(t, dom, `(?s)<tr class="snapshot" data-serial="`+s+`">.*?</tr>`)
				if !strings.Contains(row, want) {
					t.Errorf("archive: row of %s lacks %q: %s", s, want, row)
				}
			}
			match(t, dom, `(?s)<tr class="snapshot" data-serial="`+s0.Serial+`">.*?expired 2d.*?next GC deletes it`)
			match(t, dom, `(?s)<tr class="snapshot" data-serial="`+s1.Serial+`">.*?<span class="badge bumped"`)
			if i1, i2 := strings.Index(dom, `data-serial="`+s1.Serial), strings.Index(dom, `data-serial="`+s2.Serial); i2 > i1 {
				t.Errorf("archive: snapshots not newest first")
			}
			match(t, dom, `(?s)<tr class="tag" data-serial="@6.1"><td data-label="Tag"><a href="@6.1/">6.1</a>`)
			match(t, dom, `<option selected="">`+s2.Serial+`</option>`)
			// The timeline: a bar per snapshot, colored by how it stands.
			tl := match(t, dom, `(?s)<svg class="chart timeline".*?</svg>\s*<p class="legend">`)
			for s, class := range map[string]string{s0.Serial: "bar expired", s1.Serial: "bar live bumped", s2.Serial: "bar soon", s3.Serial: "bar live"} {
				if !strings.Contains(tl, `<rect class="`+class+`" data-serial="`+s+`"`) {
					t.Errorf("archive: timeline: no %q bar for %s", class, s)
				}
			}
			if n := strings.Count(tl, `<rect class="bar `); n != 4 {
				t.Errorf("archive: timeline: %d bars for 4 snapshots", n)
			}
			match(t, tl, `<g class="tag" data-tag="6.1">`)
			// The pulses: the failure in full, with its reason.
			failed := match(t, dom, `(?s)<tr class="pulse" data-result="failed">.*?</tr>`)
			if !strings.Contains(failed, `<span class="reason">unreachable</span>`) || !strings.Contains(failed, upstream) || !strings.Contains(failed, "503") {
				t.Errorf("archive: the failed pulse: %s", failed)
			}
			if n := strings.Count(match(t, dom, `(?s)<svg class="chart pulses".*?</svg>`), `<rect class="bar pulse `); n != 5 {
				t.Errorf("archive: pulse chart: %d bars for 5 pulses", n)
			}
			if n := strings.Count(match(t, dom, `(?s)<svg class="chart storage".*?</svg>`), `<rect class="bar held"`); n != 4 {
				t.Errorf("archive: storage chart: %d bars for 4 snapshots", n)
			}
		}},
		{"snapshot", "/ui/debian/" + s2.Serial + "/", [2]int{1000, 1300}, func(t *testing.T, dom string) {
			bw := match(t, dom, `(?s)<section class="suite" data-suite="bookworm">.*?</section>`)
			if !strings.Contains(bw, "3 packages") || !strings.Contains(bw, "main/binary-amd64/Packages") {
				t.Errorf("snapshot: bookworm: %s", bw)
			}
			line := "deb [signed-by=/etc/apt/keyrings/aptsnap.asc] " + e.srv.URL + "/debian/" + s2.Serial + "/ bookworm main"
			if !strings.Contains(bw, line) {
				t.Errorf("snapshot: no source line %q in %s", line, bw)
			}
			up := match(t, dom, `(?s)<section class="suite" data-suite="bookworm-updates">.*?</section>`)
			if !strings.Contains(up, "2 packages<") {
				t.Errorf("snapshot: bookworm-updates: %s", up)
			}
			match(t, dom, `href="../diff\?from=`+s1.Serial+`&amp;to=`+s2.Serial+`"`)
		}},
		{"diff", "/ui/debian/diff?from=" + s1.Serial + "&to=" + s2.Serial, [2]int{700, 1000}, func(t *testing.T, dom string) {
			for _, c := range [][3]string{{"hello", "2.10-1", "2.10-2"}, {"tzdata", "2026a-0+deb12u1", "2026a-0+deb12u2"},
				{longName, "6.1.119-1~bpo11+1", "6.1.119-1~bpo11+2"}} {
				row := match(t, dom, `(?s)<tr class="upgraded" data-package="`+c[0]+`">.*?</tr>`)
				if !strings.Contains(row, `from">`+c[1]+`<`) || !strings.Contains(row, `to">`+c[2]+`<`) {
					t.Errorf("diff: %s row: %s", c[0], row)
				}
			}
			for _, p := range []string{"libfoo1", "docs-common"} {
				if strings.Contains(dom, `data-package="`+p+`"`) {
					t.Errorf("diff lists unchanged %s", p)
				}
			}
			match(t, dom, `<p id="summary">3 changes · 3 upgraded · 0 downgraded · 0 added · 0 removed`)
			// A diff this small takes milliseconds, not "0s".
			match(t, dom, `<small class="mute" id="took">\((&lt; 0\.1 ms|\d+(\.\d)? ms|\d\.\d s)\)</small>`)
		}},
		{"diff-reverse", "/ui/debian/diff?from=" + s2.Serial + "&to=" + s1.Serial, [2]int{}, func(t *testing.T, dom string) {
			match(t, dom, `(?s)<tr class="downgraded" data-package="hello">.*?2\.10-2.*?2\.10-1.*?</tr>`)
		}},
		{"package", "/ui/debian/package/hello", [2]int{700, 1000}, func(t *testing.T, dom string) {
			v2 := match(t, dom, `(?s)<tr class="version" data-version="2.10-2">.*?</tr>`)
			v1 := match(t, dom, `(?s)<tr class="version" data-version="2.10-1">.*?</tr>`)
			if !strings.Contains(v2, s2.Serial) || strings.Contains(v2, s1.Serial) || strings.Contains(v2, "@6.1") {
				t.Errorf("package: 2.10-2: %s", v2)
			}
			if !strings.Contains(v1, s0.Serial) || !strings.Contains(v1, s1.Serial) || strings.Contains(v1, s2.Serial) || !strings.Contains(v1, "@6.1") ||
				!strings.Contains(v1, "bookworm main amd64") {
				t.Errorf("package: 2.10-1: %s", v1)
			}
			if strings.Index(dom, v2) > strings.Index(dom, v1) {
				t.Errorf("package: versions not newest first")
			}
		}},
		{"tags", "/ui/-/tags", [2]int{500, 700}, func(t *testing.T, dom string) {
			row := match(t, dom, `(?s)<tr class="tag" data-tag="6.1">.*?</tr>`)
			if !strings.Contains(row, `<a href="/ui/debian/@6.1/">debian</a>`) || !strings.Contains(row, "<time") {
				t.Errorf("tags: 6.1: %s", row)
			}
		}},
		{"storage", "/ui/-/storage", [2]int{1000, 1500}, func(t *testing.T, dom string) {
			match(t, dom, `<p id="gc-summary">It would delete 1 expired snapshot and <b>[1-9]\d* stored files?, [0-9.]+ [KMG]?i?B</b>`)
			match(t, dom, `<svg class="chart gc" id="gc-bar"`)
			match(t, dom, `<tr class="expired" data-archive="debian" data-serial="`+s0.Serial+`">`)
			row := match(t, dom, `(?s)<tr class="archive" data-archive="debian">.*?</tr>`)
			if !strings.Contains(row, ">4<") || !strings.Contains(row, "1 snapshot<") {
				t.Errorf("storage: debian: %s", row)
			}
			match(t, dom, `<g class="archive" data-archive="debian">`)
		}},
		{"notfound", "/ui/debian/2099010101/", [2]int{}, func(t *testing.T, dom string) {
			match(t, dom, `<p class="err" id="error">no snapshot 2099010101 of debian</p>`)
		}},
	}

	checkPages(t, srv.URL, out, pages, true)
}

// fit is what the test-only wrapper page measured of a page framed at a
// given width.
type fit struct {
	ScrollWidth int `json:"scrollWidth"`
	ClientWidth int `json:"clientWidth"`
	// Scrollers are the elements that scroll sideways, Wide those that
	// reach past the right edge (SVG content aside, clipped by its picture).
	Scrollers []string `json:"scrollers"`
	Wide      []string `json:"wide"`
	// Wrapped are the diff's "Where" cells that take more than a line.
	Wrapped []string `json:"wrapped"`
	// DOM is the framed page's DOM, when asked for.
	DOM string `json:"dom"`
}

// frame is a page the wrapper frames: at a width and a height, with its
// DOM in the result or not.
type frame struct {
	path          string
	width, height int
	dom           bool
}

// frameSpec is a frame of the wrapper: width, height, DOM or not, path.
var frameSpec = regexp.MustCompile(`^([0-9]+),([0-9]+),([01]),(/.*)$`)

// framesPage serves the test-only wrapper: each f=W,H,D,PATH frames PATH
// W pixels wide and H high, the frames stacked from the top edge with
// nothing between them (a screenshot of the wrapper is a column of the
// pages' screenshots). When a frame has loaded, the wrapper measures it
// (and takes its DOM when D is 1) and writes the measures so far, as a
// JSON array in frame order, into the hidden <pre id="result">. Only this
// test page has a script; the UI has none.
func framesPage(w http.ResponseWriter, r *http.Request) {
	var frames strings.Builder
	for i, f := range r.URL.Query()["f"] {
		m := frameSpec.FindStringSubmatch(f)
		if m == nil {
			http.Error(w, "bad frame "+f, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(&frames, `<iframe src="%s" style="width:%spx;height:%spx;border:0;display:block" onload="measure(this, %d, %t)"></iframe>`,
			html.EscapeString(m[4]), m[1], m[2], i, m[3] == "1")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!DOCTYPE html><html><head><meta charset="utf-8"><script>
var results = [];
function measure(f, i, withDOM) {
  var d = f.contentDocument, e = d.documentElement, vw = e.clientWidth;
  var out = {scrollWidth: e.scrollWidth, clientWidth: vw, scrollers: [], wide: [], wrapped: [], dom: ""};
  var all = d.body.getElementsByTagName("*");
  for (var k = 0; k < all.length; k++) {
    var el = all[k], cs = d.defaultView.getComputedStyle(el);
    var name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (typeof el.className == "string" && el.className ? "." + el.className.split(" ").join(".") : "");
    if ((cs.overflowX == "auto" || cs.overflowX == "scroll") && el.scrollWidth > el.clientWidth) out.scrollers.push(name + " " + el.scrollWidth + ">" + el.clientWidth);
    if (!el.closest("svg") && el.getBoundingClientRect().right > vw + 0.5) out.wide.push(name + " to " + Math.round(el.getBoundingClientRect().right));
  }
  var where = d.querySelectorAll(".where > *");
  for (var j = 0; j < where.length; j++) if (where[j].getClientRects().length > 1) out.wrapped.push(where[j].textContent);
  if (withDOM) out.dom = e.outerHTML;
  results[i] = out;
  document.getElementById("result").textContent = JSON.stringify(results);
}
</script></head><body style="margin:0"><pre id="result" style="display:none">not measured</pre>%s</body></html>`, frames.String())
}

// framesURL is the wrapper's address on base for frames.
func framesURL(base string, frames []frame) string {
	q := url.Values{}
	for _, f := range frames {
		d := "0"
		if f.dom {
			d = "1"
		}
		q.Add("f", fmt.Sprintf("%d,%d,%s,%s", f.width, f.height, d, f.path))
	}
	return base + "/test/frames?" + q.Encode()
}

// measureFrames loads frames in one Chromium run and returns what the
// wrapper measured of each, in order.
func measureFrames(base string, frames []frame) ([]fit, error) {
	width := 0
	for _, f := range frames {
		width = max(width, f.width)
	}
	b, err := runChromium("--hide-scrollbars", fmt.Sprintf("--window-size=%d,1000", width+40), "--dump-dom", framesURL(base, frames))
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(?s)<pre id="result"[^>]*>(.*?)</pre>`).FindSubmatch(b)
	if m == nil {
		return nil, fmt.Errorf("no result in %.300s", b)
	}
	var fits []fit
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &fits); err != nil {
		return nil, fmt.Errorf("%w: %.300s", err, m[1])
	}
	if len(fits) != len(frames) {
		return nil, fmt.Errorf("%d of %d frames measured (Chromium wrote the DOM before the rest loaded?)", len(fits), len(frames))
	}
	for i, f := range fits {
		if f.ClientWidth == 0 {
			return nil, fmt.Errorf("frame %s at %d px not measured", frames[i].path, frames[i].width)
		}
	}
	return fits, nil
}

// screenshotFrames screenshots frames, all of one width, in one Chromium
// run (the wrapper stacks them) and cuts the picture into one PNG per
// frame, written to the files named by pngs.
func screenshotFrames(base string, frames []frame, pngs []string) error {
	width, height := frames[0].width, 0
	for _, f := range frames {
		height += f.height
	}
	dir, err := os.MkdirTemp("", "aptsnap-shot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	all := filepath.Join(dir, "all.png")
	if _, err := runChromium("--hide-scrollbars", "--screenshot="+all, fmt.Sprintf("--window-size=%d,%d", width, height), framesURL(base, frames)); err != nil {
		return err
	}
	r, err := os.Open(all)
	if err != nil {
		return err
	}
	defer r.Close()
	img, err := png.Decode(r)
	if err != nil {
		return fmt.Errorf("the screenshot: %w", err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		return fmt.Errorf("the screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), width, height)
	}
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		return fmt.Errorf("the screenshot's %T cannot be cut", img)
	}
	y := img.Bounds().Min.Y
	for i, f := range frames {
		var buf bytes.Buffer
		part := sub.SubImage(image.Rect(img.Bounds().Min.X, y, img.Bounds().Min.X+width, y+f.height))
		y += f.height
		if err := png.Encode(&buf, part); err != nil {
			return err
		}
		if err := os.WriteFile(pngs[i], buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// match returns the first match of re in dom, failing the test without one.
func match(t *testing.T, dom, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindString(dom)
	if m == "" {
		t.Errorf("no match for %s in the DOM:\n%s", re, dom)
	}
	return m
}

// runChromium runs headless Chromium on its own throwaway profile and
// returns its standard output; it tries twice, should the first run hang.
func runChromium(args ...string) ([]byte, error) {
	out, err := runChromiumOnce(args...)
	if err != nil {
		out, err = runChromiumOnce(args...)
	}
	return out, err
}

func runChromiumOnce(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "aptsnap-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--single-process", "--no-zygote", "--user-data-dir=" + dir}, args...)...)
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=disabled:")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, stderr.Bytes()[max(0, stderr.Len()-1000):])
	}
	return stdout.Bytes(), nil
}

// TestWebMounted: the server's own handler serves the UI at /ui/ and sends / there.
func TestWebMounted(t *testing.T) {
	e := newEnv(t)
	s := e.mustPulse()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET / = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, body := e.get("/ui/debian/"); code != 200 || !strings.Contains(body, s.Serial) {
		t.Fatalf("GET /ui/debian/ = %d, without %s", code, s.Serial)
	}
}

// uiPage is a web UI page a test loads in Chromium: its DOM is checked;
// with shot heights (at 1280 and 390 px wide), it is also screenshot and
// measured for sideways overflow at each width.
type uiPage struct {
	name, path string
	shot       [2]int
	check      func(t *testing.T, dom string)
}

// checkPages loads pages from base in Chromium, runs each page's check on
// its DOM, checks that no page with shot heights overflows sideways at
// 1280 or 390 px (nor, with checkWraps, wraps its "Where" column at
// 1280 px), writes the screenshots into out, and copies them to
// web/testdata/screenshots when APTSNAP_UPDATE_SCREENSHOTS is set. It
// starts three Chromium runs, each a few seconds, at once: one frames
// every page at each width to take its DOM and measure it, one per width
// screenshots the pages in a column and cuts the picture.
func checkPages(t *testing.T, base, out string, pages []uiPage, checkWraps bool) {
	t.Helper()
	start := time.Now()
	widths := [2]struct {
		name  string
		width int
	}{{"1280", 1280}, {"390", 390}}
	type measure struct{ page, width int }
	var measured []frame
	var of []measure
	for i, p := range pages {
		for k, w := range widths {
			if k == 0 || p.shot[0] != 0 {
				measured = append(measured, frame{path: p.path, width: w.width, height: 900, dom: k == 0})
				of = append(of, measure{i, k})
			}
		}
	}
	var wg sync.WaitGroup
	var fits []fit
	var fitsErr error
	wg.Go(func() { fits, fitsErr = measureFrames(base, measured) })
	var shots []string
	var shotErrs [len(widths)]error
	for k, w := range widths {
		var frames []frame
		var pngs []string
		for _, p := range pages {
			if p.shot[0] != 0 {
				frames = append(frames, frame{path: p.path, width: w.width, height: p.shot[k]})
				pngs = append(pngs, filepath.Join(out, p.name+"-"+w.name+".png"))
			}
		}
		if len(frames) > 0 {
			shots = append(shots, pngs...)
			wg.Go(func() { shotErrs[k] = screenshotFrames(base, frames, pngs) })
		}
	}
	wg.Wait()
	t.Logf("chromium: %d pages loaded, screenshot and measured in %v; screenshots in %s", len(pages), time.Since(start).Round(time.Millisecond), out)
	if fitsErr != nil {
		t.Fatalf("chromium: %v", fitsErr)
	}
	for i, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			var dom string
			for j, m := range of {
				if m.page == i && m.width == 0 {
					dom = fits[j].DOM
				}
			}
			if !strings.Contains(dom, "</html>") {
				t.Fatalf("chromium %s: no DOM: %.300s", p.path, dom)
			}
			p.check(t, dom)
		})
	}
	t.Run("fit", func(t *testing.T) {
		for j, m := range of {
			p, w, f := pages[m.page], widths[m.width].name, fits[j]
			if p.shot[0] == 0 {
				continue
			}
			if f.ScrollWidth > f.ClientWidth || len(f.Scrollers) > 0 {
				t.Errorf("%s at %s px overflows sideways: page %d px wide in %d; scrolling sideways: %v; past the right edge: %v",
					p.name, w, f.ScrollWidth, f.ClientWidth, f.Scrollers, f.Wide)
			}
			if checkWraps && m.width == 0 && len(f.Wrapped) > 0 {
				t.Errorf("%s at %s px: Where wraps: %q", p.name, w, f.Wrapped)
			}
		}
	})
	t.Run("screenshots", func(t *testing.T) {
		for _, err := range shotErrs {
			if err != nil {
				t.Fatalf("screenshots: %v", err)
			}
		}
		for _, png := range shots {
			if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
				t.Errorf("screenshot %s: %v", png, err)
			}
		}
	})
	if os.Getenv("APTSNAP_UPDATE_SCREENSHOTS") != "" {
		dir := filepath.Join("..", "web", "testdata", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, png := range shots {
			b, err := os.ReadFile(png)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, filepath.Base(png)), b, 0o644)
			}
			if err != nil {
				t.Error(err)
			}
		}
		t.Logf("screenshots copied to %s", dir)
	}
}
