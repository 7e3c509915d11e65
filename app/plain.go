package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aptsnap/aptsnap/metrics"
	"github.com/aptsnap/aptsnap/serve"
)

// plainListener serves the plain HTTP listener's connections itself as
// long as each request is a plain GET or HEAD of a stored file of a
// snapshot (serve.Server.AppendAnswer: a pool file, an index, a Release
// file; small ones from the file cache, others with sendfile), and hands
// a connection to net/http (through Accept), with the bytes it has read,
// at its first request that is not: anything else, a file not found, any
// header that could change the answer (a Range, a condition, a close),
// anything malformed. net/http then serves that connection to its end. Where it answers, the answer is net/http's byte for byte but the
// Date, without net/http's per-request work (a goroutine, a request and
// header maps, a context), which costs more than the answer itself for
// small files: half the CPU time a request, twice the requests a second
// (bench/serve.sh, pool scenario).
type plainListener struct {
	net.Listener
	cur                    *atomic.Pointer[generation]
	idleTimeout, headerTTL time.Duration

	handed chan net.Conn
	errs   chan error
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  map[net.Conn]struct{} // served here, not handed over
}

func newPlainListener(ln net.Listener, cur *atomic.Pointer[generation], idle, header time.Duration) *plainListener {
	l := &plainListener{Listener: ln, cur: cur, idleTimeout: idle, headerTTL: header,
		handed: make(chan net.Conn), errs: make(chan error), done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	go l.acceptLoop()
	return l
}

func (l *plainListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			// net/http's Serve returns on a permanent error and backs off
			// on a temporary one before it calls Accept again.
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.mu.Lock()
		if l.closed() {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		go l.serve(c)
	}
}

// Accept returns the next connection for net/http.
func (l *plainListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.handed:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and ends the connections served here once their
// answer in progress, if any, is written (as net/http's Shutdown does
// with its idle ones).
func (l *plainListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.mu.Lock()
		for c := range l.conns {
			c.SetReadDeadline(time.Unix(1, 0))
		}
		l.mu.Unlock()
	})
	return l.Listener.Close()
}

func (l *plainListener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *plainListener) forget(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// plainConn is a connection being served by a plainListener.
type plainConn struct {
	l  *plainListener
	c  net.Conn
	br *bufio.Reader
	// the answer being written: from AppendAnswer, into a buffer from
	// outBufs, by the generation g (read-locked until it is written)
	ans    serve.Answer
	buf    *[]byte
	g      *generation
	isHead bool
	path   string
	body   int64 // bytes of the body written, as metrics.Count counts them
	// what the request metrics are counted with (metrics.Count), made
	// once per connection and for each App serving it
	req     http.Request
	url     url.URL
	hdr     http.Header
	metrics *metrics.Metrics
	counted http.Handler
}

func (l *plainListener) serve(c net.Conn) {
	pc := &plainConn{l: l, c: c, br: bufio.NewReaderSize(c, 4<<10), hdr: http.Header{}}
	pc.req.URL = &pc.url
	for first := true; ; first = false {
		// As net/http: the first request's header within headerTTL of
		// the connection, each next one's within idleTimeout, then
		// headerTTL from its first byte.
		if first {
			c.SetReadDeadline(time.Now().Add(l.headerTTL))
		} else {
			c.SetReadDeadline(time.Now().Add(l.idleTimeout))
		}
		if l.closed() {
			pc.close()
			return
		}
		if _, err := pc.br.Peek(1); err != nil {
			pc.close()
			return
		}
		if buf, _ := pc.br.Peek(pc.br.Buffered()); !first && !bytes.Contains(buf, endHead) {
			// (a header that came whole needs no deadline)
			c.SetReadDeadline(time.Now().Add(l.headerTTL))
		}
		head, err := readHead(pc.br)
		if err != nil { // as net/http, which closes on a read error in a request's header
			pc.close()
			return
		}
		if head == nil || !pc.answer(head) {
			pc.handOver()
			return
		}
		pc.br.Discard(len(head))
		if err := pc.write(); err != nil {
			pc.close()
			return
		}
	}
}

// write writes the answer, counts it in the request metrics, and lets
// the generation answering it go.
func (pc *plainConn) write() error {
	a := pc.ans
	sending := a.File != nil && !pc.isHead
	if sending {
		// header and file in full segments (nginx's tcp_nopush), not the
		// header alone first
		cork(pc.c, 1)
	}
	_, err := pc.c.Write(a.Head)
	pc.body = a.Size
	if a.File != nil {
		pc.body = 0
		if err == nil && !pc.isHead {
			// sendfile, as net/http for a file (through TCPConn.ReadFrom)
			pc.body, err = io.Copy(pc.c, io.LimitReader(a.File, a.Size))
			if err == nil && pc.body < a.Size {
				err = io.ErrUnexpectedEOF // a short body: the connection ends, as in net/http
			}
		}
		a.File.Close()
	}
	if sending {
		cork(pc.c, 0)
	}
	if pc.isHead {
		pc.body = 0
	}
	pc.count(pc.g.app.Metrics)
	pc.g.mu.RUnlock()
	outBufs.Put(pc.buf) // an idle connection holds none
	pc.ans, pc.buf, pc.g = serve.Answer{}, nil, nil
	if plainAnswered != nil {
		plainAnswered()
	}
	return err
}

// cork sets TCP_CORK on a TCP connection: while on, the kernel sends only
// full segments; set off, it sends what is left.
func cork(c net.Conn, on int) {
	if tc, ok := c.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, on) })
		}
	}
}

// outBufs hold answers while they are written: a header, and a small
// file.
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func (pc *plainConn) close() {
	pc.l.forget(pc.c)
	pc.c.Close()
}

// handOver gives the connection, with what it has read, to net/http.
func (pc *plainConn) handOver() {
	pc.l.forget(pc.c)
	pc.c.SetReadDeadline(time.Time{})
	hc := &handedConn{Conn: pc.c, r: pc.br}
	select {
	case pc.l.handed <- hc:
	case <-pc.l.done:
		pc.c.Close()
	}
}

// handedConn is a connection handed to net/http: what was read already
// first, and the connection's sendfile and half-close.
type handedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *handedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *handedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

var (
	crlf    = []byte("\r\n")
	endHead = []byte("\r\n\r\n")
	methods = [...]string{"GET /", "HEAD /"}
)

// readHead returns the request's header (request line to blank line) as
// buffered in br, without consuming it; nil when the request is not one
// plainConn.answer could take, known as early as possible (so that a
// client speaking something else is not kept waiting); an error when the
// connection fails or times out in the middle.
func readHead(br *bufio.Reader) ([]byte, error) {
	for {
		buf, _ := br.Peek(br.Buffered())
		if !plausible(buf) {
			return nil, nil
		}
		if i := bytes.Index(buf, endHead); i >= 0 {
			return buf[:i+len(endHead)], nil
		}
		if len(buf) == br.Size() {
			return nil, nil // net/http's limit is larger
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, nil
			}
			return nil, err
		}
	}
}

// plausible reports whether b can begin a request plainConn.answer takes:
// GET or HEAD of a path, lines ended by CRLF, no control character.
func plausible(b []byte) bool {
	ok := false
	for _, m := range methods {
		n := min(len(b), len(m))
		if string(b[:n]) == m[:n] {
			ok = true
		}
	}
	if !ok {
		return false
	}
	for i, c := range b {
		switch {
		case c == '\r':
			if i+1 < len(b) && b[i+1] != '\n' {
				return false
			}
		case c == '\n':
			if i == 0 || b[i-1] != '\r' {
				return false
			}
		case c < ' ' && c != '\t', c == 0x7f:
			return false
		}
	}
	return true
}

// parseHead reads a request header (request line to blank line) that
// plainConn.answer may take: GET or HEAD of a target over HTTP/1.1, with
// exactly one valid Host, as net/http requires of HTTP/1.1, and no other
// header than those that change nothing in such an answer. Anything else
// (a body, a Range, a condition, Connection, Transfer-Encoding, a header
// folded or repeated) is not ok: net/http takes the connection. The fuzz
// target FuzzParseHead checks that net/http reads every header it takes
// as the same request.
func parseHead(head []byte) (target []byte, isHead, ok bool) {
	line, rest, _ := bytes.Cut(head, crlf)
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		line = line[len("GET "):]
	case bytes.HasPrefix(line, []byte("HEAD ")):
		line, isHead = line[len("HEAD "):], true
	default:
		return nil, false, false
	}
	target, proto, ok := bytes.Cut(line, []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" || !validTarget(target) {
		return nil, false, false
	}
	hosts := 0
	for len(rest) > len(crlf) {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return nil, false, false
		}
		switch string(name) {
		case "Host", "host":
			hosts++
			if !validHost(bytes.Trim(value, " \t")) {
				return nil, false, false
			}
		case "User-Agent", "user-agent", "Accept", "accept", "Accept-Encoding", "accept-encoding",
			"Accept-Language", "accept-language", "Cache-Control", "cache-control", "Pragma", "pragma":
		default:
			return nil, false, false
		}
	}
	if hosts != 1 {
		return nil, false, false
	}
	return target, isHead, true
}

// validTarget reports whether net/http takes target as a request's URI
// (url.ParseRequestURI, as net/http reads it): it is only called for a
// target with a byte that may make it refuse, an escape or a control
// byte, so that the usual request costs no parse.
func validTarget(target []byte) bool {
	if len(target) > 0 && target[0] == '/' && !slices.ContainsFunc(target, func(c byte) bool { return c == '%' || c < 0x21 || c == 0x7f }) {
		return true
	}
	_, err := url.ParseRequestURI(string(target))
	return err == nil
}

// answer makes in pc.ans the answer to the request whose header is head,
// if the server serving now gives it (serve.Server.AppendAnswer), to be
// written by write.
func (pc *plainConn) answer(head []byte) bool {
	target, isHead, ok := parseHead(head)
	if !ok {
		return false
	}
	// As front: the generation serving now answers, and is not retired
	// until its answer is written (see write).
	g := pc.l.cur.Load()
	g.mu.RLock()
	if g.retired || g.app.server == nil { // (the server is made before the generation serves)
		g.mu.RUnlock()
		return false
	}
	t := string(target)
	bp := outBufs.Get().(*[]byte)
	a, ok := g.app.server.AppendAnswer(context.Background(), (*bp)[:0], t, isHead, time.Now())
	if !ok {
		g.mu.RUnlock()
		outBufs.Put(bp)
		return false
	}
	*bp = a.Head[:0]
	pc.ans, pc.buf, pc.g, pc.isHead, pc.path = a, bp, g, isHead, t
	return true
}

// plainAnswered, when set (by tests), is called for each request the
// plain listener answers itself.
var plainAnswered func()

// count counts the answer written in the request metrics, through
// metrics.Count: a request of its kind, pc.body bytes.
func (pc *plainConn) count(m *metrics.Metrics) {
	if m == nil {
		return
	}
	if pc.metrics != m {
		pc.metrics = m
		pc.counted = m.Count(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if rf, ok := w.(io.ReaderFrom); ok && pc.body > 0 {
				rf.ReadFrom(http.NoBody) // see ReadFrom
			}
		}))
	}
	pc.req.Method = http.MethodGet
	if pc.isHead {
		pc.req.Method = http.MethodHead
	}
	pc.url.Path = pc.path
	pc.counted.ServeHTTP(pc, &pc.req)
}

// plainConn is the http.ResponseWriter metrics.Count counts through: it
// reports the body written (pc.body) as copied.
func (pc *plainConn) Header() http.Header                   { return pc.hdr }
func (pc *plainConn) Write(p []byte) (int, error)           { return len(p), nil }
func (pc *plainConn) WriteHeader(int)                       {}
func (pc *plainConn) ReadFrom(io.Reader) (n int64, _ error) { return pc.body, nil }

// validHost reports whether a Host value is a host name or address and
// an optional port, in the characters net/http accepts without question.
func validHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}
