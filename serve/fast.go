package serve

import (
	"context"
	"net/http"
	"path"
	"strings"
	"time"
)

// AppendSmall appends to dst the whole HTTP/1.1 answer (status line,
// headers, and the body unless head) that ServeHTTP gives to an
// unconditional GET or HEAD of target without a Range, when target is a
// small pool file (up to 64 kB) of a snapshot: what the file cache holds,
// the catalog caches and the file cache filled as ServeHTTP fills them.
// It reports the body's length and whether it answered; when it did not
// (any other target, a file not found, an error), the request is
// ServeHTTP's, which answers it as it always does. now is the Date.
//
// This is what a server can answer without net/http's per-request work
// (see app's plain listener): the smallest files, where that work costs
// more than the answer itself.
func (s *Server) AppendSmall(ctx context.Context, dst []byte, target string, head bool, now time.Time) (out []byte, body int, ok bool) {
	// What ServeHTTP refuses or routes elsewhere, and any target whose
	// URL.Path is not the target itself (escapes, a query), goes there.
	if len(target) < 2 || target[0] != '/' || len(target) > maxPath || !plainTarget(target) || !cleanPath(target[1:]) {
		return dst, 0, false
	}
	archive, rest, _ := cut(target[1:])
	id, rel, more := cut(rest)
	if !more || !s.archives[archive] || !snapshotID(id) || !strings.HasPrefix(rel, "pool/") {
		return dst, 0, false
	}
	v, err := s.view(ctx, archive, id)
	if err != nil {
		return dst, 0, false
	}
	c, found, err := s.poolFile(ctx, v, rel)
	if err != nil || !found || c.Size < 0 || c.Size > smallFile {
		return dst, 0, false
	}
	f, done, err := s.smallFile(ctx, c.SHA256)
	if err != nil {
		return dst, 0, false
	}
	defer done()
	ct := typeHeaders[path.Ext(rel)]
	if ct == nil {
		ct = octetStream // as serveBlob for a pool file
	}
	// The headers serveBlob and serveSmall set, then the Date net/http
	// adds, in net/http's order.
	dst = append(dst, "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nContent-Length: "...)
	dst = append(dst, f.length[0]...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, ct[0]...)
	dst = append(dst, "\r\nEtag: "...)
	dst = append(dst, f.etag[0]...)
	if v.lastMod != nil {
		dst = append(dst, "\r\nLast-Modified: "...)
		dst = append(dst, v.lastMod[0]...)
	}
	dst = append(dst, "\r\nDate: "...)
	dst = now.UTC().AppendFormat(dst, http.TimeFormat)
	dst = append(dst, "\r\n\r\n"...)
	if head {
		return dst, 0, true
	}
	return append(dst, f.data...), len(f.data), true
}

// plainTarget reports whether a request target is a path net/http takes
// as it is for URL.Path: printable ASCII, no escape, query or fragment.
func plainTarget(t string) bool {
	for i := range len(t) {
		switch c := t[i]; {
		case c <= ' ' || c >= 0x7f, c == '%', c == '?', c == '#', c == '\\':
			return false
		}
	}
	return true
}
