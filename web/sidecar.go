package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/events"
)

// A sidecar is the package list of one Packages index, kept on disk beside
// the store so that "where does this package appear" needs a binary search
// per distinct index instead of a parse of it:
//
//	magic "aptsnap-pkgs 1\n"
//	uint32 n (big endian), then n uint32 offsets of the lines in the text
//	text: "name version arch\n" per package, sorted by cmpPkg
//
// Sidecars are named by the digest of the index file they describe, which
// is immutable, so a sidecar never goes stale; PruneSidecars removes those
// of indices no snapshot references any more.
const sidecarMagic = "aptsnap-pkgs 1\n"

const sidecarExt = ".pkgs"

// maxSidecarLine bounds the length of a line read from a sidecar.
const maxSidecarLine = 64 << 10

func sidecarPath(dir string, d blob.Digest) string {
	return filepath.Join(dir, d.String()+sidecarExt)
}

// encodeSidecar returns the sidecar of pkgs, which must be sorted by cmpPkg.
func encodeSidecar(pkgs []pkg) []byte {
	var text bytes.Buffer
	offs := make([]byte, 4+4*len(pkgs))
	binary.BigEndian.PutUint32(offs, uint32(len(pkgs)))
	for i, p := range pkgs {
		binary.BigEndian.PutUint32(offs[4+4*i:], uint32(text.Len()))
		text.WriteString(p.Name + " " + p.Version + " " + p.Arch + "\n")
	}
	return append(append([]byte(sidecarMagic), offs...), text.Bytes()...)
}

// writeSidecar writes the sidecar of an index atomically (a reader sees
// the whole file or none).
func writeSidecar(dir string, d blob.Digest, pkgs []pkg) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(encodeSidecar(pkgs)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), sidecarPath(dir, d))
}

// errNoSidecar is returned by lookupSidecar when the index has none yet.
var errNoSidecar = errors.New("no sidecar")

// lookupSidecar returns the packages named name in the sidecar of index d,
// reading only the lines a binary search visits.
func lookupSidecar(dir string, d blob.Digest, name string) ([]pkg, error) {
	f, err := os.Open(sidecarPath(dir, d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoSidecar
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	head := make([]byte, len(sidecarMagic)+4)
	if _, err := f.ReadAt(head, 0); err != nil || string(head[:len(sidecarMagic)]) != sidecarMagic {
		return nil, fmt.Errorf("sidecar %s: bad header", d)
	}
	n := int64(binary.BigEndian.Uint32(head[len(sidecarMagic):]))
	textAt := int64(len(sidecarMagic)) + 4 + 4*n
	if textAt > st.Size() {
		return nil, fmt.Errorf("sidecar %s: truncated", d)
	}
	textLen := st.Size() - textAt
	// Line i runs from its offset to the next line's (the last one to the
	// end of the file) and is one whole "name version arch\n": a sidecar
	// whose blocks did not all reach the disk before a crash (zeroed
	// offsets or text, a short file) is an error, not a wrong answer.
	var buf []byte
	line := func(i int64) (pkg, error) {
		var ob [8]byte
		offs := ob[:]
		if i == n-1 {
			offs = ob[:4]
		}
		if _, err := f.ReadAt(offs, int64(len(sidecarMagic))+4+4*i); err != nil {
			return pkg{}, fmt.Errorf("sidecar %s: line %d: %w", d, i, err)
		}
		start, end := int64(binary.BigEndian.Uint32(ob[:4])), textLen
		if i < n-1 {
			end = int64(binary.BigEndian.Uint32(ob[4:]))
		}
		if start >= end || end > textLen || end-start > maxSidecarLine {
			return pkg{}, fmt.Errorf("sidecar %s: bad line %d", d, i)
		}
		buf = slices.Grow(buf[:0], int(end-start))[:end-start]
		if _, err := f.ReadAt(buf, textAt+start); err != nil {
			return pkg{}, fmt.Errorf("sidecar %s: line %d: %w", d, i, err)
		}
		fs := strings.Split(string(buf), " ")
		if buf[len(buf)-1] != '\n' || bytes.IndexByte(buf[:len(buf)-1], '\n') >= 0 || len(fs) != 3 || fs[0] == "" {
			return pkg{}, fmt.Errorf("sidecar %s: bad line %d", d, i)
		}
		return pkg{fs[0], fs[1], strings.TrimSuffix(fs[2], "\n")}, nil
	}
	// First line whose name is >= name.
	lo, hi := int64(0), n
	for lo < hi {
		mid := (lo + hi) / 2
		p, err := line(mid)
		if err != nil {
			return nil, err
		}
		if p.Name < name {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	var out []pkg
	for i := lo; i < n; i++ {
		p, err := line(i)
		if err != nil {
			return nil, err
		}
		if p.Name != name {
			break
		}
		out = append(out, p)
	}
	return out, nil
}

// PruneSidecars deletes the sidecars in dir of indices for which live
// returns false (called after garbage collection), and leftover temporary
// files. A missing dir is not an error.
func PruneSidecars(dir string, live func(blob.Digest) bool) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
				os.Remove(filepath.Join(dir, name)) // left by a killed writer
			}
			continue
		}
		d, err := blob.ParseDigest(strings.TrimSuffix(name, sidecarExt))
		if err != nil || !strings.HasSuffix(name, sidecarExt) || live(d) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err == nil {
			n++
		}
	}
	return n, nil
}

// PruneOnCollect has every garbage collection b tells of delete the
// package lists in dir of the indices it collected.
func PruneOnCollect(b *events.Bus, dir string, log *slog.Logger) {
	b.OnCollected(func(_ context.Context, live func(blob.Digest) bool) {
		// One written for an index committed meanwhile is only rebuilt on
		// its next use.
		if _, err := PruneSidecars(dir, live); err != nil {
			log.Warn("gc: web package lists", "err", err)
		}
	})
}
