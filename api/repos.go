package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

// MaxUpload is the largest body POST .../packages accepts.
const MaxUpload = 4 << 30

// MaxUploadFiles is the most files one upload may hold.
const MaxUploadFiles = 256

// Archives implements Repos.
func (c *Client) Archives(ctx context.Context) ([]Archive, error) {
	var out []Archive
	return out, c.do(ctx, http.MethodGet, "archives", nil, &out)
}

// Latest implements Repos from the archive's trace file
// (/<archive>/project/trace/<archive>, "Archive serial: <serial>").
func (c *Client) Latest(ctx context.Context, archive string) (string, error) {
	u := strings.TrimSuffix(c.BaseURL, "/") + "/" + url.PathEscape(archive) + "/project/trace/" + url.PathEscape(archive)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", fmt.Errorf("latest %s: %w: no trace file at %s", archive, catalog.ErrNotFound, u)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("latest %s: GET %s: %s", archive, u, resp.Status)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<10))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Archive serial:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("latest %s: no \"Archive serial:\" line in %s", archive, u)
}

func suitePath(archive, suite string) string {
	return "archives/" + url.PathEscape(archive) + "/suites/" + url.PathEscape(suite)
}

// RepoList implements Repos.
func (c *Client) RepoList(ctx context.Context, archive, suite string) ([]Package, error) {
	var out []Package
	return out, c.do(ctx, http.MethodGet, suitePath(archive, suite)+"/packages", nil, &out)
}

// RepoRemove implements Repos.
func (c *Client) RepoRemove(ctx context.Context, archive, suite string, packages []string) (RepoResult, error) {
	var out RepoResult
	return out, c.do(ctx, http.MethodPost, suitePath(archive, suite)+"/remove", map[string][]string{"packages": packages}, &out)
}

// RepoCopy implements Repos.
func (c *Client) RepoCopy(ctx context.Context, req CopyRequest) (RepoResult, error) {
	var out RepoResult
	return out, c.do(ctx, http.MethodPost, suitePath(req.Archive, req.Suite)+"/copy", req, &out)
}

// RepoPublish implements Repos.
func (c *Client) RepoPublish(ctx context.Context, archive string) (RepoResult, error) {
	var out RepoResult
	return out, c.do(ctx, http.MethodPost, "archives/"+url.PathEscape(archive)+"/publish", struct{}{}, &out)
}

func (s *server) repoPublish(c *call) error {
	archive := c.r.PathValue("archive")
	res, err := s.ops.RepoPublish(c.r.Context(), archive)
	s.audit(c, "repo publish", err, "archive", archive, "serial", res.Serial)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, res)
}

// RepoAdd implements Repos: the files go up as one multipart/form-data
// body, streamed from disk.
func (c *Client) RepoAdd(ctx context.Context, req AddRequest) (RepoResult, error) {
	var out RepoResult
	fields := [][2]string{{"component", req.Component}}
	if req.Publish {
		fields = append(fields, [2]string{"publish", "1"})
	}
	return out, c.sendFiles(ctx, suitePath(req.Archive, req.Suite)+"/packages", fields, req.Files, &out)
}

// sendFiles posts fields and files as one multipart/form-data body,
// the files streamed from disk as "file" parts.
func (c *Client) sendFiles(ctx context.Context, path string, fields [][2]string, files []string, out any) error {
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, kv := range fields {
				if err := mw.WriteField(kv[0], kv[1]); err != nil {
					return err
				}
			}
			for _, f := range files {
				part, err := mw.CreateFormFile("file", filepath.Base(f))
				if err != nil {
					return err
				}
				in, err := os.Open(f)
				if err != nil {
					return err
				}
				_, err = io.Copy(part, in)
				in.Close()
				if err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	err := c.send(ctx, http.MethodPost, path, pr, mw.FormDataContentType(), out)
	pr.Close()
	return err
}

func (s *server) archives(c *call) error {
	out, err := s.ops.Archives(c.r.Context())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(out))
}

func (s *server) repoList(c *call) error {
	out, err := s.ops.RepoList(c.r.Context(), c.r.PathValue("archive"), c.r.PathValue("suite"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(out))
}

func (s *server) repoRemove(c *call) error {
	var req struct {
		Packages []string `json:"packages"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	archive, suite := c.r.PathValue("archive"), c.r.PathValue("suite")
	res, err := s.ops.RepoRemove(c.r.Context(), archive, suite, req.Packages)
	s.audit(c, "repo remove", err, "archive", archive, "suite", suite, "packages", req.Packages, "serial", res.Serial)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, res)
}

func (s *server) repoCopy(c *call) error {
	var req CopyRequest
	if err := decode(c.r, &req); err != nil {
		return err
	}
	req.Archive, req.Suite = c.r.PathValue("archive"), c.r.PathValue("suite")
	res, err := s.ops.RepoCopy(c.r.Context(), req)
	s.audit(c, "repo copy", err, "archive", req.Archive, "suite", req.Suite, "from_archive", req.FromArchive,
		"from_serial", req.FromSerial, "from_suite", req.FromSuite, "package", req.Package, "version", req.Version, "serial", res.Serial)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, res)
}

// uploadErr is an error reading an upload from the client: ErrTooLarge
// past the size limit, else ErrInvalid. Errors spooling it are the
// server's (see spool).
func (s *server) uploadErr(what string, err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errdefs.Errorf(ErrTooLarge, "upload over %d bytes", s.maxUpload)
	}
	return errdefs.Errorf(ErrInvalid, "%s: %w", what, err)
}

// cleanUploads removes what uploads of a server that died left in its
// spool directory, last written before t.
func (s *server) cleanUploads(t time.Time) {
	if s.uploadDir == "" {
		return
	}
	ents, _ := os.ReadDir(s.uploadDir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "aptsnap-upload-") && info.ModTime().Before(t) {
			os.RemoveAll(filepath.Join(s.uploadDir, e.Name()))
		}
	}
}

// spool copies an uploaded file to a new file at path. Failing to read it
// is the client's error (400, or 413 past the size limit); failing to
// write it, a full or broken disk, is the server's (500, logged).
func (s *server) spool(path string, part io.Reader) error {
	name := filepath.Base(path)
	create := s.createSpool
	if create == nil {
		create = createFile
	}
	f, err := create(path)
	if errors.Is(err, fs.ErrExist) {
		return errdefs.Errorf(ErrInvalid, "upload: file %s given twice: give each file once", name)
	}
	if err != nil {
		return s.spoolErr("upload "+name, err)
	}
	w := &errWriter{w: f}
	_, err = io.Copy(w, part)
	cerr := f.Close()
	switch {
	case w.err != nil:
		return s.spoolErr("upload "+name, w.err)
	case err != nil:
		return s.uploadErr("upload "+name, err)
	case cerr != nil:
		return s.spoolErr("upload "+name, cerr)
	}
	return nil
}

// spoolErr is the server's failure to spool an upload (what says which).
func (s *server) spoolErr(what string, err error) error {
	return fmt.Errorf("%s: the server could not store it in its upload directory: %w; "+
		"its administrator should check the disk holding %s (free space?), then upload again", what, err, s.spoolDir())
}

// spoolDir is the directory uploads are spooled under.
func (s *server) spoolDir() string {
	if s.uploadDir != "" {
		return s.uploadDir
	}
	return os.TempDir()
}

// createFile creates a new file at path, for writing.
func createFile(path string) (io.WriteCloser, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
}

// errWriter writes to w, keeping the first error: what io.Copy returns
// is then told apart as the writer's or the reader's.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// repoAdd saves the uploaded files in a temporary directory, then imports
// them as if they had been named on the command line.
func (s *server) repoAdd(c *call) error {
	req := AddRequest{Archive: c.r.PathValue("archive"), Suite: c.r.PathValue("suite")}
	var publish string
	files, cleanup, err := s.receive(c, map[string]*string{"component": &req.Component, "publish": &publish})
	defer cleanup()
	if err != nil {
		return err
	}
	req.Files, req.Publish = files, publish == "1"
	res, err := s.ops.RepoAdd(c.r.Context(), req)
	s.audit(c, "repo add", err, "archive", req.Archive, "suite", req.Suite, "files", baseNames(files), "serial", res.Serial)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, res)
}

func baseNames(files []string) []string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	return names
}

// receive spools a multipart/form-data upload into a temporary directory:
// "file" parts (at most MaxUploadFiles) as files, whose paths it returns,
// and the named fields (256 bytes at most, each once) into fields.
// cleanup removes the directory; call it also on error.
func (s *server) receive(c *call, fields map[string]*string) (files []string, cleanup func(), err error) {
	cleanup = func() {}
	mr, err := c.r.MultipartReader()
	if err != nil {
		return nil, cleanup, errdefs.Errorf(ErrInvalid, "want multipart/form-data: %w", err)
	}
	if s.uploadDir != "" {
		if err := os.MkdirAll(s.uploadDir, 0o700); err != nil {
			return nil, cleanup, s.spoolErr("upload", err)
		}
	}
	dir, err := os.MkdirTemp(s.uploadDir, "aptsnap-upload-")
	if err != nil {
		return nil, cleanup, s.spoolErr("upload", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	seen := map[string]bool{}
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, cleanup, s.uploadErr("upload", err)
		}
		if parts > MaxUploadFiles+len(fields) {
			return nil, cleanup, errdefs.Errorf(ErrInvalid, "upload of more than %d parts", MaxUploadFiles+len(fields))
		}
		name := part.FormName()
		if name == "file" {
			if len(files) == MaxUploadFiles {
				return nil, cleanup, errdefs.Errorf(ErrInvalid, "upload of more than %d files", MaxUploadFiles)
			}
			fname := part.FileName()
			if len(fname) > 255 {
				return nil, cleanup, errdefs.Errorf(ErrInvalid, "upload: a file name of %d bytes", len(fname))
			}
			if fname == "" || fname != filepath.Base(fname) || fname == "." || fname == ".." || strings.HasPrefix(fname, ".") {
				return nil, cleanup, errdefs.Errorf(ErrInvalid, "upload: bad file name %q", fname)
			}
			p := filepath.Join(dir, fname)
			if err := s.spool(p, part); err != nil {
				return nil, cleanup, err
			}
			files = append(files, p)
			continue
		}
		dst, ok := fields[name]
		if !ok {
			return nil, cleanup, errdefs.Errorf(ErrInvalid, "upload: unexpected field %q", name)
		}
		if seen[name] {
			return nil, cleanup, errdefs.Errorf(ErrInvalid, "upload: %s given twice", name)
		}
		seen[name] = true
		b, err := io.ReadAll(io.LimitReader(part, 256))
		if err != nil {
			return nil, cleanup, errdefs.Errorf(ErrInvalid, "upload: %w", err)
		}
		*dst = string(b)
	}
	return files, cleanup, nil
}
