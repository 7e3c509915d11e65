package app

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// FuzzParseHead: every request header the plain listener answers itself
// is one net/http reads as the same request: the same method, target and
// host, HTTP/1.1, no body, the connection kept, and its end where net/http
// would read the next request (so the two never disagree on where a
// request ends: no smuggling between them).
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /debian/2026120101/pool/main/h/hello/hello_2.10-3_amd64.deb HTTP/1.1\r\nHost: deb.example.org\r\nUser-Agent: Debian APT-HTTP/1.3 (2.6.1)\r\n\r\n",
		"HEAD /debian/2026120101/dists/bookworm/InRelease HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\n Accept: folded\r\n\r\n",
		"GET /x HTTP/1.0\r\nHost: a\r\n\r\n",
		"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x?y HTTP/1.1\r\nHost: [::1]:80\r\nAccept :x\r\n\r\n",
		"GET  /x HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 4<<10)
		head, err := readHead(br)
		if err != nil || head == nil {
			return
		}
		target, isHead, ok := parseHead(head)
		if !ok {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatalf("taken here, refused by net/http (%v):\n%q", err, head)
		}
		method := http.MethodGet
		if isHead {
			method = http.MethodHead
		}
		var host string
		for _, l := range bytes.Split(head, []byte("\r\n"))[1:] {
			if name, value, ok := bytes.Cut(l, []byte(":")); ok && (string(name) == "Host" || string(name) == "host") {
				host = string(bytes.Trim(value, " \t"))
			}
		}
		if req.Method != method || req.RequestURI != string(target) || req.Proto != "HTTP/1.1" || req.Host != host ||
			req.ContentLength != 0 || len(req.TransferEncoding) != 0 || req.Close {
			t.Fatalf("read otherwise by net/http: method %s uri %q proto %s host %q length %d te %v close %v; here %s %q host %q:\n%q",
				req.Method, req.RequestURI, req.Proto, req.Host, req.ContentLength, req.TransferEncoding, req.Close, method, target, host, head)
		}
		// net/http's next request starts where ours does.
		rest := bufio.NewReaderSize(bytes.NewReader(data), len(data)+16) // all of it read at once
		if _, err := http.ReadRequest(rest); err != nil {
			t.Fatal(err)
		}
		if n := len(data) - rest.Buffered(); n != len(head) {
			t.Fatalf("the request ends at %d here, at %d for net/http:\n%q", len(head), n, data)
		}
	})
}
