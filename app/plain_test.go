package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/repogen"
)

// TestPlainListener: on the plain listener, a pool file already served
// once is answered without net/http, byte for byte as net/http answers
// it but the Date, and counted in the metrics; a request it does not
// take (a Range, a close, malformed or not HTTP at all) goes to net/http
// with the connection, at once, pipelined requests included; stopping
// the server ends the connections it holds.
func TestPlainListener(t *testing.T) {
	var answered atomic.Int64
	plainAnswered = func() { answered.Add(1) }
	defer func() { plainAnswered = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := testenv.NewUpstream(t)
	up.Write(repogen.Suite{Name: "stable", Architectures: []string{"amd64"}, Date: time.Now().Add(-time.Hour),
		Components: map[string][]repogen.Package{"main": {{Name: "hello", Version: "1.0", Arch: "amd64"},
			// a package over 64 kB, sent with sendfile
			{Name: "big", Version: "1.0", Arch: "amd64", Files: map[string][]byte{"usr/share/big/data": noise(300 << 10)}}}}})
	a := openOneArchive(t, ctx, up, `public_url = "http://snap.example"`)
	snap, err := a.Pulse(ctx, "debian")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- a.ServeListener(ctx, ln, false) }()

	conn := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	// raw reads one answer as sent, headers and body.
	raw := func(br *bufio.Reader, method string) string {
		t.Helper()
		var b strings.Builder
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading an answer: %v (so far %q)", err, b.String())
			}
			b.WriteString(l)
			if l == "\r\n" {
				break
			}
		}
		var n int
		if m := regexp.MustCompile(`(?m)^Content-Length: (\d+)\r$`).FindStringSubmatch(b.String()); m != nil && method != "HEAD" {
			fmt.Sscan(m[1], &n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		return b.String() + string(body)
	}
	get := func(c net.Conn, br *bufio.Reader, method, path string, hdr ...string) string {
		t.Helper()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Debian APT-HTTP/1.3\r\n%s\r\n", method, path, addr, strings.Join(hdr, ""))
		return raw(br, method)
	}
	c, br := conn()
	defer c.Close()
	// The trace is not for the plain listener: from then on, this
	// connection is net/http's.
	get(c, br, "GET", "/debian/project/trace/debian")
	packages := get(c, br, "GET", "/debian/"+snap.Serial+"/dists/stable/main/binary-amd64/Packages")
	debs := regexp.MustCompile(`(?m)^Filename: (\S+)`).FindAllStringSubmatch(packages, -1)
	if len(debs) != 2 {
		t.Fatalf("not 2 Filenames in\n%s", packages)
	}
	url, bigURL := "/debian/"+snap.Serial+"/"+debs[1][1], "/debian/"+snap.Serial+"/"+debs[0][1]
	if strings.Contains(url, "big") {
		url, bigURL = bigURL, url
	}
	date := regexp.MustCompile(`(?m)^Date: .*\r$`)
	for _, target := range []string{url, bigURL, "/debian/" + snap.Serial + "/dists/stable/InRelease",
		"/debian/" + snap.Serial + "/dists/stable/main/binary-amd64/Packages.gz",
		"/debian/" + snap.Serial + "/dists/stable/main/binary-amd64/Packages.xz"} {
		for _, method := range []string{"GET", "HEAD"} {
			before := answered.Load()
			// the first time: not in the caches yet
			c2, br2 := conn()
			got := get(c2, br2, method, target)
			got2 := get(c2, br2, method, target)
			c2.Close()
			want := get(c, br, method, target) // net/http's
			if !strings.HasPrefix(want, "HTTP/1.1 200 ") {
				t.Logf("%s %s: %.30q", method, target, want)
				continue
			}
			if !answeredReaches(&answered, before+2) {
				t.Fatalf("%s %s: %d of 2 requests answered by the plain listener", method, target, answered.Load()-before)
			}
			if target == bigURL && !regexp.MustCompile(`\r\nContent-Length: \d{6}\r\n`).MatchString(want) {
				t.Errorf("the big package is not over 64 kB:\n%.300q", want)
			}
			for _, g := range []string{got, got2} {
				if date.ReplaceAllString(g, "") != date.ReplaceAllString(want, "") || !date.MatchString(g) {
					t.Errorf("%s %s: plain listener:\n%q\nnet/http:\n%q", method, target, g, want)
				}
			}
		}
	}

	// Pipelined: answered here, then a Range for net/http, then one that
	// closes, all on one connection, in order.
	before := answered.Load()
	c3, br3 := conn()
	defer c3.Close()
	req := func(hdr string) string {
		return fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", url, addr, hdr)
	}
	io.WriteString(c3, req("")+req("Range: bytes=0-3\r\n")+req("Connection: close\r\n"))
	for i, code := range []string{"200", "206", "200"} {
		if a := raw(br3, "GET"); !strings.HasPrefix(a, "HTTP/1.1 "+code+" ") {
			t.Errorf("pipelined answer %d: %.40q, want %s", i, a, code)
		}
	}
	if _, err := br3.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close: %v, want EOF", err)
	}
	if !answeredReaches(&answered, before+1) {
		t.Errorf("%d pipelined requests answered by the plain listener, want 1", answered.Load()-before)
	}

	// Not for the plain listener: net/http answers at once.
	for _, r := range []string{
		"GET " + url + " HTTP/1.1\n\n",                           // bare line feeds
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",   // not HTTP
		"GET " + url + " HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", // two Hosts
		"GET " + url + " HTTP/1.0\r\n\r\n",
		"GET " + url + "?x HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		c, br := conn()
		start := time.Now()
		io.WriteString(c, r)
		l, err := br.ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(l, "HTTP/1.") || time.Since(start) > 3*time.Second {
			t.Errorf("%q: %q, %v after %v", r, l, err, time.Since(start))
		}
	}

	// The metrics count what the plain listener answers.
	before = answered.Load()
	metrics := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := metrics()
	pool := regexp.MustCompile(`aptsnap_http_requests_total\{kind="pool"\} (\d+)`)
	n0 := pool.FindStringSubmatch(m)
	c4, br4 := conn()
	for range 3 {
		get(c4, br4, "GET", url)
	}
	m = metrics()
	n1 := pool.FindStringSubmatch(m)
	if n0 == nil || n1 == nil || answered.Load() != before+3 {
		t.Fatalf("pool requests %v then %v, %d answered here", n0, n1, answered.Load()-before)
	}
	var x0, x1 int
	fmt.Sscan(n0[1], &x0)
	fmt.Sscan(n1[1], &x1)
	if x1-x0 != 3 {
		t.Errorf("metrics counted %d of the 3 requests the plain listener answered", x1-x0)
	}

	// Stopping: the idle connection held here ends, and so does Serve.
	cancel()
	select {
	case err := <-served:
		if err != nil && err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("serve did not stop")
	}
	c4.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br4.ReadByte(); err != io.EOF {
		t.Errorf("a connection held by the plain listener after stopping: %v, want EOF", err)
	}
}

// noise is n bytes that do not compress.
func noise(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// answeredReaches waits for the count of answers the plain listener gave
// to reach n: it counts an answer after writing it, so a client can read
// the answer a moment before it is counted (under load, seen in CI-like
// runs). It reports whether the count is n.
func answeredReaches(answered *atomic.Int64, n int64) bool {
	for deadline := time.Now().Add(5 * time.Second); answered.Load() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return answered.Load() == n
}
