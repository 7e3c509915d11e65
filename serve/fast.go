package serve

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/index"
)

// Answer is an answer AppendAnswer gives: its status line and headers,
// with the body when in memory, else the file to send after them.
type Answer struct {
	// Head is the status line and headers, then the body if in memory.
	Head []byte
	// File, when not nil, holds the body: Size bytes, to be sent (with
	// sendfile: it is a file) after Head unless the request is a HEAD,
	// then closed, whether sent or not.
	File io.ReadCloser
	// Size is the body's length.
	Size int64
}

// AppendAnswer appends to dst the answer (status line, headers, and the
// body unless head) that ServeHTTP gives to an unconditional GET or HEAD
// of target without a Range, when target is a file of a snapshot named
// by its serial or a timestamp, as stored: a pool file, an index or a
// Release file under dists/. A body over 64 kB is left in Answer.File.
// The catalog caches and the file cache are used and filled as ServeHTTP
// does. It reports whether it answered; when it did not (any other
// target, a file not found, one decompressed for the client or
// redirected to, an error), the request is ServeHTTP's, which answers it
// as it always does. now is the Date.
//
// This is what a server can answer without net/http's per-request work
// (see app's plain listener), which costs more than the answer itself
// for small files.
func (s *Server) AppendAnswer(ctx context.Context, dst []byte, target string, head bool, now time.Time) (Answer, bool) {
	// What ServeHTTP refuses or routes elsewhere, and any target whose
	// URL.Path is not the target itself (escapes, a query), goes there.
	if len(target) < 2 || target[0] != '/' || len(target) > maxPath || !plainTarget(target) || !cleanPath(target[1:]) {
		return Answer{}, false
	}
	archive, rest, _ := cut(target[1:])
	id, rest, more := cut(rest)
	if !more || !s.archives[archive] || !snapshotID(id) {
		return Answer{}, false
	}
	v, err := s.view(ctx, archive, id)
	if err != nil {
		return Answer{}, false
	}
	var name string
	var d blob.Digest
	var size int64
	switch first, rel, _ := cut(rest); first {
	case "pool":
		c, found, err := s.poolFile(ctx, v, rest)
		if err != nil || !found {
			return Answer{}, false
		}
		name, d, size = rest, c.SHA256, c.Size
	case "dists":
		sv, rel, ok := v.suite(rel)
		if !ok {
			return Answer{}, false
		}
		switch rel {
		case "InRelease", "Release", "Release.gpg":
			i, ct := 0, textPlain
			if rel == "Release" {
				i = 1
			} else if rel == "Release.gpg" {
				i, ct = 2, pgpSignature
			}
			f, signed := sv.releaseFile(i)
			return Answer{Head: appendSmall(dst, ct, f, signed, now, head), Size: int64(len(f.data))}, true
		}
		f, ok := sv.files[rel]
		if !ok { // by-hash too: ServeHTTP's
			return Answer{}, false
		}
		if _, derived := index.DerivedFrom(sv.files, f.Path); derived {
			return Answer{}, false
		}
		name, d, size = f.Path, f.SHA256, f.Size
	default:
		return Answer{}, false
	}
	ct := contentType(name)
	if size >= 0 && size <= smallFile {
		f, done, err := s.smallFile(ctx, d)
		if err != nil {
			return Answer{}, false
		}
		defer done()
		return Answer{Head: appendSmall(dst, ct, f, v.lastMod, now, head), Size: int64(len(f.data))}, true
	}
	if s.redirect != nil {
		return Answer{}, false
	}
	rc, info, err := s.store.Open(ctx, d)
	if err != nil {
		return Answer{}, false
	}
	if _, ok := rc.(syscall.Conn); !ok { // not a file: ServeHTTP streams it
		rc.Close()
		return Answer{}, false
	}
	dst = appendHeader(dst, ct, strconv.FormatInt(info.Size, 10), `"`+d.String()+`"`, v.lastMod, now)
	return Answer{Head: dst, File: rc, Size: info.Size}, true
}

// appendSmall appends the answer serveSmall gives to an unconditional
// request, Date included.
func appendSmall(dst []byte, ct []string, f *cachedFile, lastMod []string, now time.Time, head bool) []byte {
	dst = appendHeader(dst, ct, f.length[0], f.etag[0], lastMod, now)
	if head {
		return dst
	}
	return append(dst, f.data...)
}

// appendHeader appends the status line and headers of a whole file, as
// net/http writes them for serveSmall and http.ServeContent: theirs,
// sorted, then the Date net/http adds.
func appendHeader(dst []byte, ct []string, length, etag string, lastMod []string, now time.Time) []byte {
	dst = append(dst, "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nContent-Length: "...)
	dst = append(dst, length...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, ct[0]...)
	dst = append(dst, "\r\nEtag: "...)
	dst = append(dst, etag...)
	if lastMod != nil {
		dst = append(dst, "\r\nLast-Modified: "...)
		dst = append(dst, lastMod[0]...)
	}
	dst = append(dst, "\r\nDate: "...)
	dst = now.UTC().AppendFormat(dst, http.TimeFormat)
	return append(dst, "\r\n\r\n"...)
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
