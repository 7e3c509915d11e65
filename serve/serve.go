// Package serve serves snapshots over HTTP at the URLs APT and people use:
//
//	/<archive>/<serial>/dists/<suite>/{InRelease,Release,Release.gpg}
//	/<archive>/<serial>/dists/<suite>/<component>/binary-<arch>/Packages{,.gz,.xz}
//	/<archive>/<serial>/dists/<suite>/.../by-hash/SHA256/<hash>
//	/<archive>/<serial>/pool/...
//	/<archive>/<YYYYMMDDTHHMMSSZ>/...   the newest snapshot at or before that instant
//	/<archive>/project/trace/<archive>
//	/tagged/<tag>/<archive>/...         tagged snapshots
//	/keys/aptsnap.asc
//
// Nothing is parsed per request: every answer is a catalog lookup (cached)
// and a file streamed from the content-addressed store, with Range,
// conditional requests, HEAD and exact Content-Length from net/http.
package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/names"
	"github.com/aptsnap/aptsnap/release"
)

// Options configure a Server.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	// PublicKey is our armored signing key, served at /keys/aptsnap.asc.
	PublicKey []byte
	// Archives are the names of the archives served.
	Archives []string
	// Log receives request errors (slog.Default() if nil).
	Log *slog.Logger
	// Now is the clock timestamp URLs are checked against (time.Now if
	// nil): one naming an instant not a second past yet is refused,
	// since snapshots made until then would change its answer.
	Now func() time.Time
	// CacheTTL bounds how long catalog answers are reused (default 2s).
	CacheTTL time.Duration
	// Redirect, when set, answers a request for a file larger than the
	// small-file size with a redirect to the URL it gives (a presigned
	// URL of an object store), instead of streaming it through.
	Redirect func(ctx context.Context, d blob.Digest) (*url.URL, error)
	// FileCacheBytes bounds the memory holding the content of small files
	// (up to 64 kB: Release files, small indices and packages), saving
	// an open, read and close per request; default DefaultFileCacheBytes,
	// negative for none.
	FileCacheBytes int64
}

// DefaultFileCacheBytes is the default Options.FileCacheBytes.
const DefaultFileCacheBytes = 16 << 20

// Server is the snapshot HTTP handler.
type Server struct {
	cat      catalog.Catalog
	store    blob.Store
	key      []byte
	keyTime  time.Time
	redirect func(ctx context.Context, d blob.Digest) (*url.URL, error)
	archives map[string]bool
	log      *slog.Logger
	now      func() time.Time

	snaps   *ttlCache[snapKey, *snapView]
	pool    *ttlCache[poolKey, []catalog.PoolFile]
	answers answerCache
	members *ttlCache[indexKey, bitset]
	files   *fileCache
	// deriving bounds the plain files decompressed at once (see serveFile);
	// a request waits deriveWait for a slot, a client writeStall per chunk.
	deriving               chan struct{}
	deriveWait, writeStall time.Duration
}

type snapKey struct{ archive, id string }
type poolKey struct{ archive, path string }

// snapView is everything needed to serve one snapshot.
type snapView struct {
	snap   catalog.Snapshot
	suites map[string]*suiteView
	// lastMod is the Last-Modified of its files (nil when unknown).
	lastMod []string
}

type suiteView struct {
	su      catalog.Suite
	files   map[string]catalog.IndexFile // by path
	members []bitset
	// release holds InRelease, Release and Release.gpg with their
	// header values, made on first use.
	releaseOnce sync.Once
	release     [3]*cachedFile
	signed      []string // their Last-Modified
}

// releaseFile returns InRelease (0), Release (1) or Release.gpg (2).
func (sv *suiteView) releaseFile(i int) (*cachedFile, []string) {
	sv.releaseOnce.Do(func() {
		for j, data := range [3][]byte{sv.su.InRelease, sv.su.Release, sv.su.ReleaseGPG} {
			sv.release[j] = newCachedFile(blob.Sum(data), data)
		}
		sv.signed = lastModified(sv.su.Signed)
	})
	return sv.release[i], sv.signed
}

// lastModified is the Last-Modified header value of t, nil for the zero
// time (which http.ServeContent leaves out).
func lastModified(t time.Time) []string {
	if t.IsZero() || t.Equal(time.Unix(0, 0)) {
		return nil
	}
	return header(t.UTC().Format(http.TimeFormat))
}

// New returns a Server.
func New(o Options) *Server {
	s := &Server{cat: o.Catalog, store: o.Store, key: o.PublicKey, keyTime: time.Now(), archives: map[string]bool{}, log: o.Log, now: o.Now,
		redirect: o.Redirect}
	if s.now == nil {
		s.now = time.Now
	}
	for _, a := range o.Archives {
		s.archives[a] = true
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	ttl := o.CacheTTL
	if ttl == 0 {
		ttl = 2 * time.Second
	}
	s.snaps = newTTLCache[snapKey, *snapView](4096, ttl)
	s.pool = newTTLCache[poolKey, []catalog.PoolFile](65536, ttl*5)
	s.members = newTTLCache[indexKey, bitset](1024, ttl*5)
	fc := o.FileCacheBytes
	if fc == 0 {
		fc = DefaultFileCacheBytes
	}
	s.files = newFileCache(fc)
	s.deriving = make(chan struct{}, maxDeriving)
	s.deriveWait, s.writeStall = derivingWait, writeStall
	return s
}

// maxDeriving is how many plain files may be decompressed for clients at
// once; APT asks for them only when it can read no compressed variant.
const maxDeriving = 4

// Invalidate drops cached catalog answers (after a local change).
func (s *Server) Invalidate() {
	s.snaps.clear()
	s.pool.clear()
	s.members.clear()
	s.answers.clear()
	s.files.clear()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	if len(p) > maxPath {
		http.Error(w, "path too long", http.StatusRequestURITooLong)
		return
	}
	if !cleanPath(p[1:]) {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	// The path's first segments, and what follows them: no allocation
	// (this runs for every request).
	s0, rest0, _ := cut(p[1:])
	s1, rest1, more1 := cut(rest0)
	s2, rest2, more2 := cut(rest1)
	s3, _, more3 := cut(rest2)
	switch {
	case p == "/keys/aptsnap.asc":
		w.Header().Set("Content-Type", "application/pgp-keys")
		serveContent(w, r, "aptsnap.asc", s.keyTime, bytes.NewReader(s.key))
	case more2 && s0 == "tagged" && names.Tag(s1) && s.archives[s2]: // 4 segments or more
		s.serveSnapshot(w, r, s2, catalog.TagSerial(s1), rest2)
	case more2 && !more3 && s1 == "project" && s2 == "trace" && s3 == s0 && s.archives[s0]: // 4 segments
		s.serveTrace(w, r, s0)
	case more1 && s.archives[s0] && snapshotID(s1): // 3 segments or more
		s.serveSnapshot(w, r, s0, s1, rest1)
	default:
		http.NotFound(w, r)
	}
}

// cleanPath reports whether a path (without its leading slash) has no
// segment "." or "..", and no empty one but the last.
func cleanPath(p string) bool {
	for {
		i := strings.IndexByte(p, '/')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if seg == "." || seg == ".." || seg == "" && i >= 0 {
			return false
		}
		if i < 0 {
			return true
		}
		p = p[i+1:]
	}
}

// cut returns the first segment of a path and what follows its slash;
// more is whether there was a slash.
func cut(p string) (seg, rest string, more bool) {
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:], true
	}
	return p, "", false
}

// maxPath bounds a request's path: an archive's deepest file (a pool
// file, a by-hash copy) is a few hundred bytes.
const maxPath = 4096

// snapshotID reports whether id names a time-based snapshot: a serial or
// a timestamp.
func snapshotID(id string) bool {
	if len(id) == 10 { // names.Serial, without its regular expression
		for i := range len(id) {
			if id[i] < '0' || id[i] > '9' {
				return false
			}
		}
		return true
	}
	_, stamp := names.Timestamp(id)
	return stamp
}

// serveSnapshot serves rest (dists/... or pool/...) of the snapshot id
// (a serial, a timestamp or a tag's name) of an archive.
func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request, archive, id string, rest string) {
	v, err := s.view(r.Context(), archive, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch first, rel, _ := cut(rest); first {
	case "dists":
		sv, rel, ok := v.suite(rel)
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.serveDists(w, r, v, sv, rel)
	case "pool":
		s.servePool(w, r, v, rest)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveTrace(w http.ResponseWriter, r *http.Request, archive string) {
	snap, err := s.cat.Latest(r.Context(), archive)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body := fmt.Sprintf("Archive serial: %s\nDate: %s\n", snap.Serial, release.FormatTime(snap.Created))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	serveContent(w, r, "trace", snap.Created, strings.NewReader(body))
}

// timestampSettle is how long after its instant a timestamp URL is
// answered (see catalog.NewSnapshot.Clock).
const timestampSettle = time.Second

// view resolves a serial or timestamp to a snapshot and loads what is
// needed to serve it.
func (s *Server) view(ctx context.Context, archive, id string) (*snapView, error) {
	k := snapKey{archive, id}
	if v, ok := s.snaps.get(k); ok {
		return v, nil
	}
	var snap catalog.Snapshot
	var err error
	switch {
	case names.Serial(id), strings.HasPrefix(id, "@") && names.Tag(id[1:]): // not a working state
		snap, err = s.cat.Snapshot(ctx, archive, id)
	case snapshotID(id):
		t, _ := names.Timestamp(id)
		// A snapshot committing now is stamped at most a second ahead of
		// the clock it read: a timestamp is answered once a second past.
		if t.Add(timestampSettle).After(s.now()) {
			return nil, errdefs.Errorf(catalog.ErrNotFound, "%s is not past yet (snapshots made until then would change the answer)", id)
		}
		snap, err = s.cat.SnapshotAt(ctx, archive, t)
	default:
		return nil, errdefs.Errorf(catalog.ErrNotFound, "%q is neither a serial (YYYYMMDDNN) nor a timestamp (YYYYMMDDTHHMMSSZ)", id)
	}
	if err != nil {
		return nil, err
	}
	// A timestamp resolving to a serial already loaded shares its view.
	if sv, ok := s.snaps.get(snapKey{archive, snap.Serial}); ok && sv.snap.ID == snap.ID {
		s.snaps.put(k, sv)
		return sv, nil
	}
	v := &snapView{snap: snap, suites: map[string]*suiteView{}, lastMod: lastModified(snap.Created)}
	for _, name := range snap.Suites {
		su, err := s.cat.Suite(ctx, snap.ID, name)
		if err != nil {
			return nil, err
		}
		sv := &suiteView{su: su, files: make(map[string]catalog.IndexFile, len(su.Files))}
		for _, f := range su.Files {
			sv.files[f.Path] = f
		}
		for _, d := range su.Indices {
			bs, err := s.indexMembers(ctx, archive, d)
			if err != nil {
				return nil, err
			}
			sv.members = append(sv.members, bs)
		}
		v.suites[name] = sv
	}
	s.snaps.put(k, v)
	s.snaps.put(snapKey{archive, snap.Serial}, v)
	return v, nil
}

// indexKey is an index of an archive: its members are that archive's.
type indexKey struct {
	archive string
	index   blob.Digest
}

func (s *Server) indexMembers(ctx context.Context, archive string, d blob.Digest) (bitset, error) {
	k := indexKey{archive, d}
	if bs, ok := s.members.get(k); ok {
		return bs, nil
	}
	ids, err := s.cat.IndexMembers(ctx, archive, d)
	if err != nil {
		return bitset{}, err
	}
	bs := newBitset(ids)
	s.members.put(k, bs)
	return bs, nil
}

func (s *Server) serveDists(w http.ResponseWriter, r *http.Request, v *snapView, sv *suiteView, rel string) {
	h := w.Header()
	switch rel {
	case "InRelease", "Release", "Release.gpg":
		var f *cachedFile
		var signed []string
		switch rel {
		case "InRelease":
			f, signed = sv.releaseFile(0)
			h["Content-Type"] = textPlain
		case "Release":
			f, signed = sv.releaseFile(1)
			h["Content-Type"] = textPlain
		default:
			f, signed = sv.releaseFile(2)
			h["Content-Type"] = pgpSignature
		}
		h["Etag"] = f.etag
		serveSmall(w, r, f, sv.su.Signed, signed)
		return
	}
	if f, ok := sv.files[rel]; ok {
		s.serveFile(w, r, v, sv, f)
		return
	}
	// <dir>/by-hash/SHA256/<hex>
	dir, hash := path.Split(rel)
	if strings.HasSuffix(dir, "/by-hash/SHA256/") {
		d, err := blob.ParseDigest(hash)
		if err == nil {
			want := strings.TrimSuffix(dir, "by-hash/SHA256/")
			for _, f := range sv.su.Files {
				if f.SHA256 == d && path.Dir(f.Path)+"/" == want {
					s.serveFile(w, r, v, sv, f)
					return
				}
			}
		}
	}
	http.NotFound(w, r)
}

// serveFile serves an index file of a suite: from the store, or, for a
// plain file upstream listed without serving it, decompressed from its
// compressed variant (see index.DerivedFrom), without ranges.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, v *snapView, sv *suiteView, f catalog.IndexFile) {
	mod := v.snap.Created
	from, ok := index.DerivedFrom(sv.files, f.Path)
	if !ok {
		s.serveBlob(w, r, v, f.Path, f.SHA256, f.Size)
		return
	}
	if _, err := s.store.Stat(r.Context(), f.SHA256); !errors.Is(err, blob.ErrNotFound) {
		s.serveBlob(w, r, v, f.Path, f.SHA256, f.Size)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("ETag", `"`+f.SHA256.String()+`"`)
	h.Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.SHA256.String()) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	if r.Method == http.MethodHead {
		return
	}
	wait := time.NewTimer(s.deriveWait)
	defer wait.Stop()
	select {
	case s.deriving <- struct{}{}:
		defer func() { <-s.deriving }()
	case <-wait.C:
		h.Del("Content-Length")
		h.Set("Retry-After", "5")
		http.Error(w, "503 busy decompressing other files: retry, or fetch "+path.Base(from.Path), http.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		return
	}
	rc, err := index.OpenDerived(r.Context(), s.store, f, from)
	if err != nil {
		h.Del("Content-Length")
		s.fail(w, r, err)
		return
	}
	defer rc.Close()
	// A client that stops reading gives its slot up: every write must
	// go through within writeStall.
	// The last chunk is held back until the content is known to be the
	// listed one (checked at its end): a mismatch ends the body short,
	// never whole and wrong.
	rw := http.NewResponseController(w)
	write := func(p []byte) bool {
		rw.SetWriteDeadline(time.Now().Add(s.writeStall)) // not every ResponseWriter has one
		if _, err := w.Write(p); err != nil {
			s.log.Debug("serve: client gone", "path", r.URL.Path, "err", err)
			return false
		}
		return true
	}
	cur, held := make([]byte, 64<<10), make([]byte, 0, 64<<10)
	for {
		n, rerr := io.ReadFull(rc, cur)
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		if rerr != nil && rerr != io.EOF {
			if !errors.Is(rerr, context.Canceled) {
				s.log.Error("serve", "path", r.URL.Path, "err", rerr)
			}
			return // the headers are gone: the client sees a short body
		}
		if len(held) > 0 && !write(held) {
			return
		}
		held = append(held[:0], cur[:n]...)
		if rerr == io.EOF {
			if len(held) > 0 {
				write(held)
			}
			return
		}
	}
}

// derivingWait is how long a request for a plain file waits for a
// decompression slot before a 503; writeStall how long a client may take
// to take each chunk of one before it loses the slot.
const (
	derivingWait = 5 * time.Second
	writeStall   = 30 * time.Second
)

func (s *Server) servePool(w http.ResponseWriter, r *http.Request, v *snapView, rel string) {
	c, found, err := s.poolFile(r.Context(), v, rel)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !found {
		http.NotFound(w, r)
		return
	}
	s.serveBlob(w, r, v, rel, c.SHA256, c.Size)
}

// poolFile returns the pool file a snapshot serves at rel.
func (s *Server) poolFile(ctx context.Context, v *snapView, rel string) (catalog.PoolFile, bool, error) {
	if c, ok := s.answers.get(v, rel); ok {
		return c, true, nil
	}
	k := poolKey{v.snap.Archive, rel}
	cands, ok := s.pool.get(k)
	if !ok {
		var err error
		cands, err = s.cat.LookupPool(ctx, v.snap.Archive, rel)
		if err != nil {
			return catalog.PoolFile{}, false, err
		}
		if len(cands) > 0 { // a path unknown now may be known after the next pulse
			s.pool.put(k, cands)
		}
	}
	c, found := v.member(cands)
	if !found && ok {
		// The cached candidates may predate this snapshot: a custom
		// archive can bring a path back with other content, committed by
		// another process. Ask the catalog again before a 404.
		fresh, err := s.cat.LookupPool(ctx, v.snap.Archive, rel)
		if err != nil {
			return catalog.PoolFile{}, false, err
		}
		if len(fresh) > 0 {
			s.pool.put(k, fresh)
		}
		c, found = v.member(fresh)
	}
	if found {
		s.answers.put(v, rel, c)
	}
	return c, found, nil
}

// suite returns the suite of the snapshot a path under dists/ is in, and
// the path in it; false if none or nothing after it.
func (v *snapView) suite(rel string) (*suiteView, string, bool) {
	// A suite name may hold slashes (Debian's old "<codename>/updates"):
	// of the snapshot's suites, the longest the path starts with wins.
	var best string
	for name := range v.suites {
		if len(name) > len(best) && len(rel) > len(name) && rel[len(name)] == '/' && strings.HasPrefix(rel, name) {
			best = name
		}
	}
	if best == "" || len(rel) == len(best)+1 {
		return nil, "", false
	}
	return v.suites[best], rel[len(best)+1:], true
}

// member returns the candidate pool file one of the snapshot's indices lists.
func (v *snapView) member(cands []catalog.PoolFile) (catalog.PoolFile, bool) {
	for _, c := range cands {
		for _, sv := range v.suites {
			for _, m := range sv.members {
				if m.has(c.ID) {
					return c, true
				}
			}
		}
	}
	return catalog.PoolFile{}, false
}

var contentTypes = map[string]string{
	".deb": "application/vnd.debian.binary-package", ".udeb": "application/vnd.debian.binary-package",
	".dsc": "text/prs.lines.tag", ".gz": "application/gzip", ".xz": "application/x-xz",
	".bz2": "application/x-bzip2", ".zst": "application/zstd", ".lz4": "application/x-lz4",
	".gpg": "application/pgp-signature", ".asc": "application/pgp-signature",
}

// smallFile is the size up to which a file is read into memory and
// written with its header in one go, rather than opened and sent with
// sendfile: fewer system calls for the many small files of an archive.
const smallFile = 64 << 10

var smallBufs = sync.Pool{New: func() any { b := make([]byte, 0, smallFile); return &b }}

// Header values shared by every answer (see header).
var (
	textPlain    = header("text/plain; charset=utf-8")
	octetStream  = header("application/octet-stream")
	pgpSignature = header("application/pgp-signature")
	acceptRanges = header("bytes")
	typeHeaders  = func() map[string][]string {
		m := make(map[string][]string, len(contentTypes))
		for ext, ct := range contentTypes {
			m[ext] = header(ct)
		}
		return m
	}()
)

// contentType is the Content-Type of a file served under name.
func contentType(name string) []string {
	ct := typeHeaders[path.Ext(name)]
	if ct == nil {
		ct = textPlain // Packages, Sources, Release: deb822 text
		if strings.Contains(name, "by-hash") || strings.HasPrefix(name, "pool/") {
			ct = octetStream
		}
	}
	return ct
}

// serveBlob serves the stored file d of a snapshot, under the name given.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, v *snapView, name string, d blob.Digest, size int64) {
	h := w.Header()
	h["Content-Type"] = contentType(name)
	mod := v.snap.Created
	if size >= 0 && size <= smallFile {
		f, done, err := s.smallFile(r.Context(), d)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer done()
		h["Etag"] = f.etag
		serveSmall(w, r, f, mod, v.lastMod)
		return
	}
	h["Etag"] = header(`"` + d.String() + `"`)
	if s.redirect != nil {
		u, err := s.redirect(r.Context(), d)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h.Del("Content-Type")
		h.Set("Cache-Control", "no-store") // the URL expires; the path is what to keep
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	f, _, err := s.store.Open(r.Context(), d)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	serveContent(w, r, "", mod, f)
}

// smallFile returns a small stored file from the file cache, read into it
// first if need be; done must be called once the file is used.
func (s *Server) smallFile(ctx context.Context, d blob.Digest) (f *cachedFile, done func(), err error) {
	if f, ok := s.files.file(d); ok {
		return f, func() {}, nil
	}
	bp := smallBufs.Get().(*[]byte)
	data, err := s.store.ReadFile(ctx, d, (*bp)[:0])
	if err != nil {
		smallBufs.Put(bp)
		return nil, nil, err
	}
	*bp = data[:0]
	s.files.put(d, data)
	return newCachedFile(d, data), func() { smallBufs.Put(bp) }, nil
}

// serveSmall answers with a file held in memory (Content-Type and ETag
// set), last modified at mod (lastMod its header value, or nil to format
// it): what http.ServeContent answers, without its precondition and
// range parsing when the request has none of those headers.
func serveSmall(w http.ResponseWriter, r *http.Request, f *cachedFile, mod time.Time, lastMod []string) {
	if !unconditional(r) {
		// Without ReadFrom, net/http buffers header and body together and
		// sends a small file in one write instead of two.
		serveContent(plainWriter{w}, r, "", mod, bytes.NewReader(f.data))
		return
	}
	h := w.Header()
	h["Accept-Ranges"] = acceptRanges
	if lastMod == nil {
		lastMod = lastModified(mod)
	}
	if lastMod != nil {
		h["Last-Modified"] = lastMod
	}
	h["Content-Length"] = f.length
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		plainWriter{w}.Write(f.data)
	}
}

// serveContent is http.ServeContent, but for a Range of only empty
// suffixes ("bytes=-0"), which no byte satisfies: 416 with the size, as
// RFC 9110 says, where ServeContent answers 206 with no body.
func serveContent(w http.ResponseWriter, r *http.Request, name string, mod time.Time, content io.ReadSeeker) {
	if emptySuffixes(r.Header.Get("Range")) {
		if size, err := content.Seek(0, io.SeekEnd); err == nil {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			http.Error(w, "416 requested range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
			return
		}
		content.Seek(0, io.SeekStart)
	}
	http.ServeContent(w, r, name, mod, content)
}

// emptySuffixes reports whether a Range header asks only for suffixes of
// zero bytes.
func emptySuffixes(h string) bool {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok {
		return false
	}
	for part := range strings.SplitSeq(spec, ",") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(part), "-"); !ok || strings.TrimLeft(n, "0") != "" || n == "" {
			return false
		}
	}
	return true
}

// unconditional reports whether a request has none of the headers that
// make http.ServeContent answer anything but the whole file.
func unconditional(r *http.Request) bool {
	for _, k := range []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		if _, ok := r.Header[k]; ok {
			return false
		}
	}
	return true
}

// plainWriter hides the ResponseWriter's io.ReaderFrom.
type plainWriter struct{ http.ResponseWriter }

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, blob.ErrNotFound) {
		http.Error(w, "404 not found", http.StatusNotFound)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Error("serve", "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}
