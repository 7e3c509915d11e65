// Package release models APT Release files: the upstream ones a pulse
// verifies and reads, and the ones aptsnap writes and signs for each
// snapshot.
package release

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/deb822"
)

// Checksum fields of a Release file, weakest first.
var checksumFields = []string{"MD5Sum", "SHA1", "SHA256", "SHA512"}

// File is one file listed in a Release, relative to dists/<suite>/.
type File struct {
	Path   string
	Size   int64
	SHA256 blob.Digest // zero if the Release lists no SHA256 for it
}

// Release is a parsed Release file.
type Release struct {
	// Fields are the Release's fields in order, checksum lists excluded.
	Fields []deb822.Field
	// Files are the files with a SHA256 checksum, by path.
	Files map[string]File
}

// Parse parses the content of a Release file (the signed text of an InRelease).
func Parse(data []byte) (*Release, error) {
	p, err := deb822.NewReader(bytes.NewReader(data)).Next()
	if err == io.EOF {
		return nil, fmt.Errorf("release: empty")
	}
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	r := &Release{Files: map[string]File{}}
	seen := map[string]bool{}
	for _, f := range p.Fields {
		// APT reads the last of a repeated field, we would check the first:
		// a Release with one is not one thing.
		k := strings.ToLower(f.Name)
		if seen[k] {
			return nil, fmt.Errorf("release: field %s appears twice", f.Name)
		}
		seen[k] = true
		if !slices.ContainsFunc(checksumFields, func(c string) bool { return strings.EqualFold(c, f.Name) }) {
			r.Fields = append(r.Fields, f)
			continue
		}
		if !strings.EqualFold(f.Name, "SHA256") {
			continue
		}
		for line := range strings.SplitSeq(f.Value, "\n") {
			parts := strings.Fields(line)
			if len(parts) == 0 {
				continue
			}
			if len(parts) != 3 {
				return nil, fmt.Errorf("release: SHA256: malformed line %q", strings.TrimSpace(line))
			}
			d, err := blob.ParseDigest(parts[0])
			if err != nil {
				return nil, fmt.Errorf("release: SHA256: %w", err)
			}
			size, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil || size < 0 {
				return nil, fmt.Errorf("release: SHA256: bad size in %q", strings.TrimSpace(line))
			}
			r.Files[parts[2]] = File{Path: parts[2], Size: size, SHA256: d}
		}
	}
	return r, nil
}

// Get returns a field's value ("" if absent).
func (r *Release) Get(name string) string {
	for _, f := range r.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Date returns the Release's Date field.
func (r *Release) Date() (time.Time, error) {
	v := r.Get("Date")
	if v == "" {
		return time.Time{}, fmt.Errorf("release: no Date field")
	}
	return ParseTime(v)
}

// ValidUntil returns the Release's Valid-Until field, or the zero time if absent.
func (r *Release) ValidUntil() (time.Time, error) {
	v := r.Get("Valid-Until")
	if v == "" {
		return time.Time{}, nil
	}
	return ParseTime(v)
}

// ByHash reports whether the Release says "Acquire-By-Hash: yes".
func (r *Release) ByHash() bool { return strings.EqualFold(r.Get("Acquire-By-Hash"), "yes") }

var timeLayouts = []string{
	"Mon, 02 Jan 2006 15:04:05 MST",
	"Mon, 02 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 02 Jan 2006 15:04:05 -0700 (MST)",
	"02 Jan 2006 15:04:05 MST",
}

// ParseTime parses a Release date the way APT accepts them (RFC 1123 with
// "UTC", "GMT" or a numeric zone).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("release: unparsable date %q", s)
}

// FormatTime writes t the way Debian's archive software does:
// "Sat, 22 Nov 2026 08:14:46 UTC".
func FormatTime(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04:05") + " UTC" }

// Dropped are upstream fields a snapshot's Release does not carry over:
// checksums are recomputed for the files served, Valid-Until and Snapshots
// are ours, and Signed-By names upstream's keys, not ours.
var Dropped = []string{"MD5Sum", "SHA1", "SHA256", "SHA512", "Valid-Until", "Snapshots", "Signed-By"}

// Snapshot describes the Release aptsnap writes for one suite of a snapshot.
type Snapshot struct {
	// Upstream is the upstream Release the snapshot was taken from.
	Upstream *Release
	// Components and Architectures replace upstream's lists when not nil
	// (a snapshot serves only the configured ones).
	Components, Architectures []string
	// ValidUntil is the snapshot's expiry; zero writes no Valid-Until
	// (tagged snapshots do not expire).
	ValidUntil time.Time
	// SnapshotsURL is the Snapshots: field, e.g. "http://host/debian/@SNAPSHOTID@/".
	SnapshotsURL string
	// Files are the files served under dists/<suite>/, sorted by path.
	Files []File
}

// Build returns the text of the Release: upstream's fields in upstream's
// order (Components and Architectures narrowed to what is served),
// Valid-Until right after Date, Snapshots, then the SHA256 list.
func (s Snapshot) Build() []byte {
	var b bytes.Buffer
	wrote := map[string]bool{}
	put := func(name, value string) {
		wrote[strings.ToLower(name)] = true
		if strings.HasPrefix(value, "\n") {
			fmt.Fprintf(&b, "%s:%s\n", name, value)
		} else {
			fmt.Fprintf(&b, "%s: %s\n", name, value)
		}
	}
	for _, f := range s.Upstream.Fields {
		if slices.ContainsFunc(Dropped, func(d string) bool { return strings.EqualFold(d, f.Name) }) {
			continue
		}
		switch strings.ToLower(f.Name) {
		case "components":
			if s.Components != nil {
				put(f.Name, strings.Join(s.Components, " "))
				continue
			}
		case "architectures":
			if s.Architectures != nil {
				put(f.Name, strings.Join(s.Architectures, " "))
				continue
			}
		}
		put(f.Name, f.Value)
		if strings.EqualFold(f.Name, "Date") && !s.ValidUntil.IsZero() && !wrote["valid-until"] {
			put("Valid-Until", FormatTime(s.ValidUntil))
		}
	}
	if !wrote["valid-until"] && !s.ValidUntil.IsZero() {
		put("Valid-Until", FormatTime(s.ValidUntil))
	}
	if s.SnapshotsURL != "" {
		put("Snapshots", s.SnapshotsURL)
	}
	b.WriteString("SHA256:\n")
	width := 0
	for _, f := range s.Files {
		width = max(width, len(strconv.FormatInt(f.Size, 10)))
	}
	for _, f := range s.Files {
		fmt.Fprintf(&b, " %s %*d %s\n", f.SHA256, width, f.Size, f.Path)
	}
	return b.Bytes()
}

// SetValidUntil returns a Release text with its Valid-Until field set to t,
// everything else (Date included) byte for byte as it was.
func SetValidUntil(text []byte, t time.Time) ([]byte, error) {
	lines := bytes.SplitAfter(text, []byte("\n"))
	for i, l := range lines {
		if len(l) > len("Valid-Until:") && strings.EqualFold(string(l[:len("Valid-Until:")]), "Valid-Until:") {
			lines[i] = []byte("Valid-Until: " + FormatTime(t) + "\n")
			return bytes.Join(lines, nil), nil
		}
	}
	return nil, fmt.Errorf("release: no Valid-Until field to set")
}
