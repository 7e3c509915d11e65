// Package hostile makes an upstream APT repository misbehave, for the
// tests of what a pulse does with one: answers late, a byte at a time or
// never; a body that never ends; an index that decompresses to far more
// than the Release says; a Release, validly signed, with a field twice;
// a redirect to another scheme.
//
// The faults are handlers for testenv.Upstream.SetFault (or any server
// that lets a handler answer first); Resign and Bomb rewrite a repogen
// tree on disk and sign it again, so that the signature verifies and only
// the content is hostile.
package hostile

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aptsnap/aptsnap/pgp"
)

// Fault answers a request instead of the repository, when it returns true.
type Fault func(w http.ResponseWriter, r *http.Request) bool

// Match selects requests by path.
type Match func(path string) bool

// Suffix matches paths ending with any of the suffixes.
func Suffix(suffixes ...string) Match {
	return func(p string) bool {
		for _, s := range suffixes {
			if strings.HasSuffix(p, s) {
				return true
			}
		}
		return false
	}
}

// Delay answers matching requests after d (from the repository, then).
func Delay(m Match, d time.Duration) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if m(r.URL.Path) {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return true
			}
		}
		return false
	}
}

// Files reads the file a request path names under root, after removing
// prefix from the path (the repository is served under prefix).
type Files func(path string) ([]byte, error)

// From is Files of root served under prefix.
func From(root, prefix string) Files {
	return func(p string) ([]byte, error) {
		return os.ReadFile(filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(p, prefix))))
	}
}

// Stall sends the headers and the first n bytes of the file the request
// names, then nothing, holding the connection until the client goes.
func Stall(m Match, files Files, n int) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !m(r.URL.Path) {
			return false
		}
		body, err := files(r.URL.Path)
		if err != nil {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:min(n, len(body))])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	}
}

// Trickle sends the file the request names at bytesPerSecond, a byte at a
// time, until done or the client goes.
func Trickle(m Match, files Files, bytesPerSecond int) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !m(r.URL.Path) {
			return false
		}
		body, err := files(r.URL.Path)
		if err != nil {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(time.Second / time.Duration(bytesPerSecond))
		defer tick.Stop()
		for i := range body {
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return true
			}
			if _, err := w.Write(body[i : i+1]); err != nil {
				return true
			}
			w.(http.Flusher).Flush()
		}
		return true
	}
}

// Endless answers with a chunked body (no Content-Length) that never ends.
// Written reports how many bytes it has sent, over all requests.
func Endless(m Match, written *atomic.Int64) Fault {
	chunk := bytes.Repeat([]byte("endless "), 8192)
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !m(r.URL.Path) {
			return false
		}
		w.WriteHeader(http.StatusOK)
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			if written != nil {
				written.Add(int64(n))
			}
			if err != nil {
				break
			}
		}
		return true
	}
}

// Redirect answers matching requests with a redirect to the same path
// under another URL (another scheme: "file:///etc", "ftp://host").
func Redirect(m Match, to string) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !m(r.URL.Path) {
			return false
		}
		http.Redirect(w, r, strings.TrimRight(to, "/")+r.URL.Path, http.StatusFound)
		return true
	}
}

// Resign edits the Release of a suite of the repository at dir (as
// repogen writes it) and writes it back with InRelease and Release.gpg
// signed by signer.
func Resign(dir, suite string, signer *pgp.Signer, edit func(release []byte) []byte) error {
	base := filepath.Join(dir, "dists", suite)
	rel, err := os.ReadFile(filepath.Join(base, "Release"))
	if err != nil {
		return err
	}
	rel = edit(rel)
	in, err := signer.ClearSign(rel)
	if err != nil {
		return err
	}
	det, err := signer.DetachSign(rel)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"Release": rel, "InRelease": in, "Release.gpg": det} {
		if err := os.WriteFile(filepath.Join(base, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Bomb replaces the suite's <dir>/Packages.gz (dir such as
// "main/binary-amd64") by a gzip stream of size zero bytes followed by
// nothing else (a few hundred kB for 512 MiB), and lists it with its true
// checksum in the Release, re-signed; the plain Packages and .xz entries
// are dropped from the Release when keepPlain is false, kept (with their
// old, small size) otherwise.
func Bomb(repoDir, suite, dir string, size int64, keepPlain bool, signer *pgp.Signer) error {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(zeros)) {
		zw.Write(zeros[:min(int64(len(zeros)), size-n)])
	}
	zw.Close()
	bomb := b.Bytes()
	p := filepath.Join(repoDir, "dists", suite, filepath.FromSlash(dir), "Packages.gz")
	if err := os.WriteFile(p, bomb, 0o644); err != nil {
		return err
	}
	// The by-hash copy, should a client ask by hash.
	sum := sha256.Sum256(bomb)
	bh := filepath.Join(repoDir, "dists", suite, filepath.FromSlash(dir), "by-hash", "SHA256")
	os.MkdirAll(bh, 0o755)
	os.WriteFile(filepath.Join(bh, fmt.Sprintf("%x", sum)), bomb, 0o644)
	m5 := md5.Sum(bomb)
	return Resign(repoDir, suite, signer, func(rel []byte) []byte {
		lines := strings.SplitAfter(string(rel), "\n")
		var out strings.Builder
		section := ""
		for _, l := range lines {
			if l != "" && l[0] != ' ' {
				section = strings.TrimSuffix(strings.TrimSpace(l), ":")
				out.WriteString(l)
				continue
			}
			f := strings.Fields(l)
			if len(f) == 3 && strings.HasPrefix(f[2], dir+"/Packages") {
				switch {
				case f[2] == dir+"/Packages.gz" && section == "SHA256":
					fmt.Fprintf(&out, " %x %8d %s\n", sum, len(bomb), f[2])
				case f[2] == dir+"/Packages.gz" && section == "MD5Sum":
					fmt.Fprintf(&out, " %x %8d %s\n", m5, len(bomb), f[2])
				case keepPlain && f[2] == dir+"/Packages":
					out.WriteString(l)
				}
				continue
			}
			out.WriteString(l)
		}
		return []byte(out.String())
	})
}

// Twice repeats a field of a Release: its first line, again, with value.
func Twice(field, value string) func([]byte) []byte {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(field) + `: .*\n`)
	return func(rel []byte) []byte {
		loc := re.FindIndex(rel)
		if loc == nil {
			return rel
		}
		return append(append(append([]byte{}, rel[:loc[1]]...), field+": "+value+"\n"...), rel[loc[1]:]...)
	}
}
