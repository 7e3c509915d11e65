// Package names is the one definition of each name aptsnap gives or
// accepts in a URL, a command or a configuration: archives, serials,
// snapshot timestamps and tags.
package names

import (
	"regexp"
	"time"
)

// ArchivePattern is what an archive name must match: lower-case letters
// and digits, then also '.', '+' and '-' (Debian's rule for package names,
// so that an archive name is safe in a URL, a file name and a log line).
const ArchivePattern = `^[a-z0-9][a-z0-9.+-]*$`

var (
	archiveRE = regexp.MustCompile(ArchivePattern)
	serialRE  = regexp.MustCompile(`^[0-9]{10}$`)
	stampRE   = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)
	tagRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+_~-]*$`)
)

// Archive reports whether s is a valid archive name (see ArchivePattern).
func Archive(s string) bool { return archiveRE.MatchString(s) }

// Reserved reports whether s is a first path segment the server uses for
// itself, which no archive may take.
func Reserved(s string) bool {
	switch s {
	case "keys", "tagged", "api", "metrics", "ui", "project":
		return true
	}
	return false
}

// Serial reports whether s is a serial: YYYYMMDDNN, the UTC day of a
// time-based snapshot and its number that day.
func Serial(s string) bool { return serialRE.MatchString(s) }

// TimestampLayout is the layout of a snapshot timestamp in a URL
// (snapshot.debian.org's): the newest snapshot at or before that instant.
const TimestampLayout = "20060102T150405Z"

// Timestamp parses a snapshot timestamp, YYYYMMDDTHHMMSSZ (UTC).
func Timestamp(s string) (time.Time, bool) {
	if !stampRE.MatchString(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(TimestampLayout, s)
	return t, err == nil
}

// MaxTag is the longest a tag name may be.
const MaxTag = 64

// Tag reports whether s is a valid tag name: letters, digits, '.', '+',
// '_', '~' and '-', starting with a letter or digit, at most MaxTag long
// (release names such as 6.1, 2026.04~rc1).
func Tag(s string) bool { return len(s) <= MaxTag && tagRE.MatchString(s) }
