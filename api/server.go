package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/manifest"
)

// Prefix is the path under which the API is served.
const Prefix = "/api/v1/"

// maxBody limits the body of every request but a package upload.
const maxBody = 1 << 20

// maxMessage bounds the error text the server sends back: a bad request
// can put anything in what an error would quote.
const maxMessage = 1 << 10

// Errors the server answers with 401 and 403. A Client's errors wrap them.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)

// errInsecure is the refusal of a token sent in clear over the network.
var errInsecure = errdefs.Errorf(ErrForbidden, "API tokens are accepted over HTTPS or from loopback only: give the server as https://... (--server, APTSNAP_SERVER)")

type server struct {
	ops    Ops
	tokens TokenOps
	auth   catalog.Tokens
	log    *slog.Logger
	// maxUpload bounds a package upload's body (MaxUpload).
	maxUpload int64
	// uploadDir is where uploads are spooled.
	uploadDir string
	// createSpool creates the file an uploaded file is spooled to
	// (createFile if nil): tests make it fail as a full disk would.
	createSpool func(path string) (io.WriteCloser, error)
}

// ServerOptions configure the admin API handler.
type ServerOptions struct {
	// Ops are the operations served.
	Ops Ops
	// Tokens store the API tokens.
	Tokens catalog.Tokens
	// Log receives the audit log (slog.Default() if nil).
	Log *slog.Logger
	// UploadDir is where package uploads are spooled until imported (the
	// system's temporary directory if empty); it must have room for
	// MaxUpload.
	UploadDir string
}

// NewServer returns the admin API handler, serving under Prefix:
//
//	GET    /api/v1/snapshots[?archive=A]                       []Snapshot      anyone
//	POST   /api/v1/archives/{archive}/snapshots/{serial}/bump  {"days":N,"allow_shorten":B} release-manager
//	POST   /api/v1/gc                                          {"dry_run":B}   admin
//	POST   /api/v1/archives/{archive}/untrack                  {"suite":S}     admin
//	GET    /api/v1/verify[?archive=A[&serial=S]]               []Problem       admin
//	POST   /api/v1/tokens                                      {"name":N,"role":R} admin
//	GET    /api/v1/tokens                                      []Token         admin
//	DELETE /api/v1/tokens/{name}                                               admin
//	GET    /api/v1/archives                                    []Archive       anyone
//	GET    /api/v1/archives/{archive}/suites/{suite}/packages  []Package       anyone
//	POST   /api/v1/archives/{archive}/suites/{suite}/packages  multipart: component, file... release-manager
//	POST   /api/v1/archives/{archive}/suites/{suite}/remove    {"packages":[...]} release-manager
//	POST   /api/v1/archives/{archive}/suites/{suite}/copy      CopyRequest     release-manager
//
// Tokens come as "Authorization: Bearer SECRET" and are looked up by the
// SHA-256 of the secret. They are refused over plain HTTP from anywhere
// but loopback. Errors are JSON {"error": "..."}.
//
// Request bodies are bounded by endpoint: MaxUpload for a package upload
// (at most MaxUploadFiles files), 1 MiB for every other.
func NewServer(o ServerOptions) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &server{ops: o.Ops, tokens: LocalTokens{o.Tokens}, auth: o.Tokens, log: o.Log, maxUpload: MaxUpload, uploadDir: o.UploadDir}
	s.cleanUploads(time.Now().Add(-24 * time.Hour))
	return s.routes()
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/snapshots", s.handle("", s.snapshots))
	mux.HandleFunc("POST /api/v1/archives/{archive}/snapshots/{serial}/bump", s.handle(catalog.RoleReleaseManager, s.bump))
	mux.HandleFunc("POST /api/v1/gc", s.handle(catalog.RoleAdmin, s.gc))
	mux.HandleFunc("POST /api/v1/archives/{archive}/snapshots/{serial}/expire", s.handle(catalog.RoleAdmin, s.expire))
	mux.HandleFunc("POST /api/v1/archives/{archive}/untrack", s.handle(catalog.RoleAdmin, s.untrack))
	mux.HandleFunc("GET /api/v1/verify", s.handle(catalog.RoleAdmin, s.verify))
	mux.HandleFunc("GET /api/v1/tags", s.handle("", s.tags))
	mux.HandleFunc("POST /api/v1/tags", s.handle(catalog.RoleReleaseManager, s.createTag))
	mux.HandleFunc("DELETE /api/v1/tags/{tag}", s.handle(catalog.RoleReleaseManager, s.deleteTag))
	mux.HandleFunc("GET /api/v1/archives", s.handle("", s.archives))
	mux.HandleFunc("GET /api/v1/archives/{archive}/suites/{suite}/packages", s.handle("", s.repoList))
	mux.HandleFunc("POST /api/v1/archives/{archive}/suites/{suite}/packages", s.handleUpload(catalog.RoleReleaseManager, s.repoAdd))
	mux.HandleFunc("POST /api/v1/archives/{archive}/suites/{suite}/remove", s.handle(catalog.RoleReleaseManager, s.repoRemove))
	mux.HandleFunc("POST /api/v1/archives/{archive}/suites/{suite}/copy", s.handle(catalog.RoleReleaseManager, s.repoCopy))
	mux.HandleFunc("POST /api/v1/archives/{archive}/publish", s.handle(catalog.RoleReleaseManager, s.repoPublish))
	mux.HandleFunc("POST /api/v1/tokens", s.handle(catalog.RoleAdmin, s.createToken))
	mux.HandleFunc("GET /api/v1/tokens", s.handle(catalog.RoleAdmin, s.listTokens))
	mux.HandleFunc("DELETE /api/v1/tokens/{name}", s.handle(catalog.RoleAdmin, s.revokeToken))
	s.updateRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// call is one authorised request.
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	who *catalog.Token // nil on a public endpoint called without a token
}

// handle authenticates the request (need "" means public: a token is
// then optional, but checked if given) and runs h, with the request body
// bounded to maxBody.
func (s *server) handle(need catalog.Role, h func(c *call) error) http.HandlerFunc {
	return s.handleLimit(need, maxBody, h)
}

// handleUpload is handle for a package upload, bounded to maxUpload.
func (s *server) handleUpload(need catalog.Role, h func(c *call) error) http.HandlerFunc {
	return s.handleLimit(need, -1, h)
}

// handleLimit is handle with the request body bounded to limit bytes, to
// s.maxUpload if limit is negative.
func (s *server) handleLimit(need catalog.Role, limit int64, h func(c *call) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bound := limit // per request: handlers run concurrently
		if bound < 0 {
			bound = s.maxUpload
		}
		r.Body = http.MaxBytesReader(w, r.Body, bound)
		who, err := s.authenticate(r)
		if err == nil && who == nil && need != "" {
			err = errdefs.Errorf(ErrUnauthorized, "this needs an API token of role %s: set APTSNAP_TOKEN to one (aptsnap token create --role %s, on the server)", need, need)
		}
		if err == nil && who != nil && need != "" && !who.Role.Allows(need) {
			err = errdefs.Errorf(ErrForbidden, "the token in APTSNAP_TOKEN (%q) has role %s; this needs %s", who.Name, who.Role, need)
		}
		if err != nil {
			if r.Method != http.MethodGet {
				s.log.Warn("api refused", "op", r.Method+" "+r.URL.Path, "remote", r.RemoteAddr, "err", err)
			}
			s.fail(w, r, who, err)
			return
		}
		if err := h(&call{w: w, r: r, who: who}); err != nil {
			s.fail(w, r, who, err)
		}
	}
}

// authenticate returns the request's token, nil if it has none.
func (s *server) authenticate(r *http.Request) (*catalog.Token, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	if !secure(r) {
		return nil, errInsecure
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, errdefs.Errorf(ErrUnauthorized, "the Authorization header must be \"Bearer <token>\" (the client sends APTSNAP_TOKEN so)")
	}
	t, err := s.auth.TokenByHash(r.Context(), HashSecret(secret))
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errdefs.Errorf(ErrUnauthorized, "the token in APTSNAP_TOKEN is unknown or revoked: ask an admin for a new one (aptsnap token create)")
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// secure reports whether a secret may travel on r's connection: TLS, or
// a loopback peer.
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *server) snapshots(c *call) error {
	snaps, err := s.ops.Snapshots(c.r.Context(), c.r.URL.Query().Get("archive"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(snaps))
}

func (s *server) bump(c *call) error {
	var req struct {
		Days         int  `json:"days"`
		AllowShorten bool `json:"allow_shorten"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	archive, serial := c.r.PathValue("archive"), c.r.PathValue("serial")
	if req.Days < 1 {
		return errdefs.Errorf(ErrInvalid, "bump %s/%s: days must be at least 1, not %d", archive, serial, req.Days)
	}
	res, err := s.ops.Bump(c.r.Context(), archive, serial, req.Days, req.AllowShorten)
	s.audit(c, "bump", err, "archive", archive, "serial", serial, "days", req.Days,
		"valid_until", res.Snapshot.ValidUntil, "previous", res.Previous)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, res)
}

func (s *server) gc(c *call) error {
	var req struct {
		DryRun bool `json:"dry_run"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	res, err := s.ops.GC(c.r.Context(), req.DryRun)
	s.audit(c, "gc", err, "dry_run", req.DryRun, "snapshots", len(res.Expired), "files", res.Files, "bytes", res.Bytes, "kept", res.Kept)
	if err != nil {
		return err
	}
	res.Expired = nonNil(res.Expired)
	return writeJSON(c.w, http.StatusOK, res)
}

// maxUntrack bounds the suites one untrack names.
const maxUntrack = 256

func (s *server) untrack(c *call) error {
	var req struct {
		Suites []string `json:"suites"`
		Suite  string   `json:"suite"` // one suite, as older clients send it
		DryRun bool     `json:"dry_run"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	archive := c.r.PathValue("archive")
	if req.Suite != "" {
		req.Suites = append(req.Suites, req.Suite)
	}
	if len(req.Suites) == 0 || len(req.Suites) > maxUntrack {
		return errdefs.Errorf(ErrInvalid, "untrack needs from 1 to %d suites or patterns", maxUntrack)
	}
	res, err := s.ops.Untrack(c.r.Context(), archive, req.Suites, req.DryRun)
	if !req.DryRun {
		s.audit(c, "untrack", err, "archive", archive, "suites", strings.Join(req.Suites, " "), "snapshots", res.Snapshots)
	}
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, res)
}

func (s *server) expire(c *call) error {
	archive, serial := c.r.PathValue("archive"), c.r.PathValue("serial")
	snap, err := s.ops.Expire(c.r.Context(), archive, serial)
	s.audit(c, "snapshot expire", err, "archive", archive, "serial", serial)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, snap)
}

func (s *server) verify(c *call) error {
	q := c.r.URL.Query()
	archive, serial := q.Get("archive"), q.Get("serial")
	if serial != "" && archive == "" {
		return errdefs.Errorf(ErrInvalid, "a serial needs an archive")
	}
	res, err := s.ops.Verify(c.r.Context(), archive, serial)
	if err != nil {
		return err
	}
	res.Problems = nonNil(res.Problems)
	return writeJSON(c.w, http.StatusOK, res)
}

func (s *server) tags(c *call) error {
	tags, err := s.ops.Tags(c.r.Context())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(tags))
}

// TagRequest is the body of POST /api/v1/tags.
type TagRequest struct {
	Tag      string             `json:"tag"`
	From     map[string]string  `json:"from"`
	Manifest *manifest.Manifest `json:"manifest,omitempty"`
}

func (s *server) createTag(c *call) error {
	var req TagRequest
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.Tag == "" || len(req.From) == 0 {
		return errdefs.Errorf(ErrInvalid, "a tag needs a name and at least one archive=serial")
	}
	res, err := s.ops.TagCreate(c.r.Context(), req.Tag, req.From, req.Manifest)
	var from []string
	for _, a := range slices.Sorted(maps.Keys(req.From)) {
		from = append(from, a+"="+req.From[a])
	}
	s.audit(c, "tag create", err, "tag", req.Tag, "from", strings.Join(from, " "), "manifest", req.Manifest != nil)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, nonNil(res))
}

func (s *server) deleteTag(c *call) error {
	tag := c.r.PathValue("tag")
	dry := c.r.URL.Query().Get("dry_run") == "1"
	n, err := s.ops.TagDelete(c.r.Context(), tag, dry)
	if !dry {
		s.audit(c, "tag delete", err, "tag", tag, "snapshots", n)
	}
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, map[string]int{"deleted": n})
}

func (s *server) createToken(c *call) error {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	t, err := s.tokens.CreateToken(c.r.Context(), req.Name, catalog.Role(req.Role))
	s.audit(c, "token create", err, "name", req.Name, "role", req.Role)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, t)
}

func (s *server) listTokens(c *call) error {
	list, err := s.tokens.ListTokens(c.r.Context())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(list))
}

func (s *server) revokeToken(c *call) error {
	name := c.r.PathValue("name")
	err := s.tokens.RevokeToken(c.r.Context(), name)
	s.audit(c, "token revoke", err, "name", name)
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// audit logs a mutating call: who, what, with which arguments, and how it went.
func (s *server) audit(c *call, op string, err error, args ...any) {
	attrs := []any{"op", op, "token", c.who.Name, "token_role", c.who.Role, "remote", c.r.RemoteAddr}
	attrs = append(attrs, args...)
	if err != nil {
		s.log.Info("api call failed", append(attrs, "status", status(err), "err", err)...)
		return
	}
	s.log.Info("api call", append(attrs, "outcome", "ok")...)
}

// decode reads a JSON request body into v. An empty body leaves v as is.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errdefs.Errorf(ErrInvalid, "request body over %d bytes", maxBody)
		}
		return errdefs.Errorf(ErrInvalid, "request body: %w", err)
	}
	if dec.More() {
		return errdefs.Errorf(ErrInvalid, "request body: more than one JSON value")
	}
	return nil
}

// status maps an error to an HTTP status.
func status(err error) int {
	switch {
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, catalog.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists):
		return http.StatusConflict
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// fail answers err. Internal errors are only detailed to token holders
// (an anonymous reader gets no paths or SQL).
func (s *server) fail(w http.ResponseWriter, r *http.Request, who *catalog.Token, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away
	}
	code := status(err)
	msg := err.Error()
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	if code == http.StatusInternalServerError {
		s.log.Error("api", "op", r.Method+" "+r.URL.Path, "err", err)
		if who == nil {
			msg = "internal error"
		}
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aptsnap"`)
	}
	writeError(w, code, msg)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("api: encode response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
	return nil
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
