package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/web"
)

const chromium = "/usr/bin/chromium"

// TestWebUI pulses two generations of the sample upstream, tags the first,
// serves the web UI and checks every page: over plain HTTP for status codes
// and escaping, then in real headless Chromium for the rendered DOM, keeping
// a phone-sized screenshot of each page.
func TestWebUI(t *testing.T) {
	e := newEnv(t)
	s1 := e.mustPulse()
	e.up.write(1)
	s2 := e.mustPulse()
	if _, err := e.app.TagCreate(context.Background(), "6.1", map[string]string{"debian": s1.Serial}, nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", web.New(web.Options{
		Catalog: e.app.Catalog, Store: e.app.Store, Archives: []string{"debian"},
		PublicURL: e.srv.URL, Now: e.clock.Now,
	}))
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

	pages := []struct {
		name, path string
		check      func(t *testing.T, dom string)
	}{
		{"archives", "/ui/", func(t *testing.T, dom string) {
			row := match(t, dom, `(?s)<tr class="archive" data-archive="debian">.*?</tr>`)
			for _, w := range []string{">ok<", ">" + s2.Serial + "<", "expires in 9d", ">2<", "+1 tag<"} {
				if !strings.Contains(row, w) {
					t.Errorf("archives: debian row lacks %q: %s", w, row)
				}
			}
		}},
		{"archive", "/ui/debian/", func(t *testing.T, dom string) {
			for _, s := range []catalog.Snapshot{s1, s2} {
				row := match(t, dom, `(?s)<tr class="snapshot" data-serial="`+s.Serial+`">.*?</tr>`)
				if !strings.Contains(row, "in 9d") || !strings.Contains(row, s.ValidUntil.UTC().Format(`datetime="2006-01-02T15:04:05Z"`)) {
					t.Errorf("archive: row of %s: %s", s.Serial, row)
				}
			}
			if i1, i2 := strings.Index(dom, `data-serial="`+s1.Serial), strings.Index(dom, `data-serial="`+s2.Serial); i2 > i1 {
				t.Errorf("archive: snapshots not newest first")
			}
			match(t, dom, `(?s)<tr class="tag" data-serial="@6.1"><td><a href="@6.1/">6.1</a>`)
			match(t, dom, `<option selected="">`+s1.Serial+`</option>`)
		}},
		{"snapshot", "/ui/debian/" + s2.Serial + "/", func(t *testing.T, dom string) {
			bw := match(t, dom, `(?s)<section class="suite" data-suite="bookworm">.*?</section>`)
			if !strings.Contains(bw, "3 packages") || !strings.Contains(bw, "main/binary-amd64/Packages") {
				t.Errorf("snapshot: bookworm: %s", bw)
			}
			line := "deb [signed-by=/etc/apt/keyrings/aptsnap.asc] " + e.srv.URL + "/debian/" + s2.Serial + "/ bookworm main"
			if !strings.Contains(bw, line) {
				t.Errorf("snapshot: no source line %q in %s", line, bw)
			}
			up := match(t, dom, `(?s)<section class="suite" data-suite="bookworm-updates">.*?</section>`)
			if !strings.Contains(up, "1 package<") {
				t.Errorf("snapshot: bookworm-updates: %s", up)
			}
			match(t, dom, `href="../diff\?from=`+s1.Serial+`&amp;to=`+s2.Serial+`"`)
		}},
		{"diff", "/ui/debian/diff?from=" + s1.Serial + "&to=" + s2.Serial, func(t *testing.T, dom string) {
			for _, c := range [][3]string{{"hello", "2.10-1", "2.10-2"}, {"tzdata", "2026a-0+deb12u1", "2026a-0+deb12u2"}} {
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
			match(t, dom, `<p id="summary">2 changes · 2 upgraded · 0 downgraded · 0 added · 0 removed`)
		}},
		{"diff-reverse", "/ui/debian/diff?from=" + s2.Serial + "&to=" + s1.Serial, func(t *testing.T, dom string) {
			match(t, dom, `(?s)<tr class="downgraded" data-package="hello">.*?2\.10-2.*?2\.10-1.*?</tr>`)
		}},
		{"package", "/ui/debian/package/hello", func(t *testing.T, dom string) {
			v2 := match(t, dom, `(?s)<tr class="version" data-version="2.10-2">.*?</tr>`)
			v1 := match(t, dom, `(?s)<tr class="version" data-version="2.10-1">.*?</tr>`)
			if !strings.Contains(v2, s2.Serial) || strings.Contains(v2, s1.Serial) || strings.Contains(v2, "@6.1") {
				t.Errorf("package: 2.10-2: %s", v2)
			}
			if !strings.Contains(v1, s1.Serial) || strings.Contains(v1, s2.Serial) || !strings.Contains(v1, "@6.1") ||
				!strings.Contains(v1, "bookworm main amd64") {
				t.Errorf("package: 2.10-1: %s", v1)
			}
			if strings.Index(dom, v2) > strings.Index(dom, v1) {
				t.Errorf("package: versions not newest first")
			}
		}},
		{"notfound", "/ui/debian/2099010101/", func(t *testing.T, dom string) {
			match(t, dom, `<p class="err" id="error">no snapshot 2099010101 of debian</p>`)
		}},
	}

	// Chromium takes seconds per page, mostly waiting: run a few at once.
	start := time.Now()
	type result struct {
		dom string
		err error
	}
	doms := make([]result, len(pages))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(3, runtime.NumCPU()))
	for i, p := range pages {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			b, err := runChromium("--dump-dom", srv.URL+p.path)
			doms[i] = result{string(b), err}
		})
		if p.name == "diff-reverse" || p.name == "notfound" {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			png := filepath.Join(out, p.name+".png")
			if _, err := runChromium("--screenshot="+png, "--window-size=390,844", srv.URL+p.path); err != nil {
				t.Errorf("screenshot of %s: %v", p.path, err)
				return
			}
			if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
				t.Errorf("screenshot of %s: %v", p.path, err)
			}
		})
	}
	wg.Wait()
	t.Logf("chromium: %d pages loaded and screenshot in %v; screenshots in %s", len(pages), time.Since(start).Round(time.Millisecond), out)
	for i, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			if doms[i].err != nil {
				t.Fatalf("chromium %s: %v", p.path, doms[i].err)
			}
			if !strings.Contains(doms[i].dom, "</html>") {
				t.Fatalf("chromium %s: no DOM: %.300s", p.path, doms[i].dom)
			}
			p.check(t, doms[i].dom)
		})
	}
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
