// Command aptload is a load generator for serving benchmarks that reads
// answers the way APT's http method does: keep-alive HTTP/1.1 GETs, the
// body read through a 64 kB buffer (methods/http.cc: `In(Owner,
// 64*1024)`), where wrk reads 8 kB at a time and asks FIONREAD after
// each read. On loopback a client's reads are most of the machine's work
// for a large file, so wrk measures itself there more than the server;
// aptload lets bench/serve.sh measure the servers under APT's reads too.
//
//	aptload -c 64 -d 10s -urls FILE http://127.0.0.1:8080/
//
// FILE holds one absolute path per line; each request takes one at
// random, as bench/wrk-urls.lua does. It prints one line in that
// script's format:
//
//	WRK requests bytes duration_us errors_connect errors_read errors_write errors_status errors_timeout lat_mean_us lat_p50_us lat_p99_us
//
// It is a measuring tool, not an HTTP client: it understands answers
// with a Content-Length (what a server of static files sends) and counts
// anything else as a read error, after which the connection is opened
// again.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	conns := flag.Int("c", 64, "connections")
	dur := flag.Duration("d", 10*time.Second, "how long to send requests")
	bufSize := flag.Int("b", 64<<10, "read buffer, bytes (APT's http method: 64 kB)")
	urls := flag.String("urls", "", "file of absolute paths, one a line")
	timeout := flag.Duration("timeout", 10*time.Second, "an answer not read whole within this is a timeout")
	flag.Parse()
	if flag.NArg() != 1 || *urls == "" {
		fmt.Fprintln(os.Stderr, "usage: aptload [-c N] [-d DURATION] [-b BYTES] -urls FILE BASE_URL")
		os.Exit(2)
	}
	base, err := url.Parse(flag.Arg(0))
	if err != nil || base.Scheme != "http" || base.Host == "" {
		fmt.Fprintf(os.Stderr, "aptload: %q is not an http:// URL\n", flag.Arg(0))
		os.Exit(2)
	}
	paths, err := readPaths(*urls)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aptload:", err)
		os.Exit(2)
	}
	start := time.Now()
	deadline := start.Add(*dur)
	results := make([]result, *conns)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i] = run(base.Host, paths, *bufSize, deadline, *timeout)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total result
	for _, r := range results {
		total.add(r)
	}
	mean, p50, p99 := total.latencies()
	fmt.Printf("WRK %d %d %d %d %d %d %d %d %.0f %d %d\n", total.requests, total.bytes, elapsed.Microseconds(),
		total.errConnect, total.errRead, total.errWrite, total.errStatus, total.errTimeout, mean, p50, p99)
}

func readPaths(name string) ([]string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if !strings.HasPrefix(l, "/") {
				return nil, fmt.Errorf("%s: %q is not an absolute path", name, l)
			}
			paths = append(paths, l)
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no paths", name)
	}
	return paths, nil
}

// result is what one connection's loop counted.
type result struct {
	requests, bytes                                      int64
	errConnect, errRead, errWrite, errStatus, errTimeout int64
	lat                                                  []time.Duration
}

func (r *result) add(o result) {
	r.requests += o.requests
	r.bytes += o.bytes
	r.errConnect += o.errConnect
	r.errRead += o.errRead
	r.errWrite += o.errWrite
	r.errStatus += o.errStatus
	r.errTimeout += o.errTimeout
	r.lat = append(r.lat, o.lat...)
}

// latencies returns the mean, median and 99th percentile, in µs.
func (r *result) latencies() (mean float64, p50, p99 int64) {
	if len(r.lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(r.lat)
	var sum time.Duration
	for _, d := range r.lat {
		sum += d
	}
	at := func(q float64) int64 { return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))].Microseconds() }
	return float64(sum.Microseconds()) / float64(len(r.lat)), at(0.50), at(0.99)
}

// run sends requests on one connection (opened again after an error)
// until deadline.
func run(host string, paths []string, bufSize int, deadline time.Time, timeout time.Duration) result {
	var r result
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(paths))))
	buf := make([]byte, bufSize)
	var c net.Conn
	var br *bufio.Reader
	drop := func() { // after an error: the next request opens it again
		if c != nil {
			c.Close()
			c = nil
		}
	}
	defer drop()
	for time.Now().Before(deadline) {
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", host, timeout); err != nil {
				r.errConnect++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			br = bufio.NewReaderSize(c, bufSize)
		}
		t0 := time.Now()
		c.SetDeadline(t0.Add(timeout))
		req := "GET " + paths[rng.IntN(len(paths))] + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			r.errWrite++
			drop()
			continue
		}
		n, status, err := readAnswer(br, buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r.errTimeout++
			} else {
				r.errRead++
			}
			drop()
			continue
		}
		r.lat = append(r.lat, time.Since(t0))
		r.requests++
		r.bytes += n
		if status < 200 || status > 299 {
			r.errStatus++
		}
	}
	return r
}

// readAnswer reads one answer's header and its body, the body through buf
// as APT reads it, and returns the bytes read and the status.
func readAnswer(br *bufio.Reader, buf []byte) (n int64, status int, err error) {
	size := int64(-1)
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return n, 0, err
		}
		n += int64(len(line))
		line = bytes.TrimRight(line, "\r\n")
		if first {
			f := strings.Fields(string(line))
			if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
				return n, 0, fmt.Errorf("not an HTTP/1 status line: %q", line)
			}
			if status, err = strconv.Atoi(f[1]); err != nil {
				return n, 0, fmt.Errorf("status line %q: %w", line, err)
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
			if size, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err != nil || size < 0 {
				return n, status, fmt.Errorf("Content-Length %q", v)
			}
		}
	}
	if size < 0 {
		return n, status, errors.New("an answer without a Content-Length")
	}
	for left := size; left > 0; {
		m, err := br.Read(buf[:min(int64(len(buf)), left)])
		n += int64(m)
		left -= int64(m)
		if err != nil {
			return n, status, err
		}
	}
	return n, status, nil
}
