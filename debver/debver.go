// Package debver parses and compares Debian package versions exactly as dpkg
// does (lib/dpkg/parsehelp.c parseversion, lib/dpkg/version.c verrevcmp).
//
// A version is [epoch:]upstream[-revision]. The epoch is the decimal number
// before the first colon (0 if there is none); the revision is what follows
// the last hyphen ("" if there is none, which compares equal to "0").
// Versions compare by epoch numerically, then upstream, then revision, each
// string compared dpkg's way: alternating runs of non-digits, compared
// character by character with '~' before everything (even the end of the
// string), then the end of the string and digits, then letters, then all
// other characters; and runs of digits, compared numerically (of any
// length, without overflow).
//
// Bytes outside ASCII sort as dpkg built with a signed char (amd64, i386)
// sorts them: after letters, before ASCII punctuation. They are never valid.
package debver

import (
	"strconv"
	"strings"
)

// Version is a parsed Debian version: [Epoch:]Upstream[-Revision].
type Version struct {
	Epoch    uint
	Upstream string
	Revision string
}

// maxEpoch is dpkg's limit (INT_MAX).
const maxEpoch = 1<<31 - 1

// ParseError reports a version string that Parse rejects.
type ParseError struct {
	Version string // the string given to Parse
	Msg     string // what is wrong with it
}

// Error implements the error interface.
func (e *ParseError) Error() string {
	return "debver: invalid version " + strconv.Quote(e.Version) + ": " + e.Msg
}

// isBlank is dpkg's c_isblank.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// isDigit is dpkg's c_isdigit.
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isAlpha is dpkg's c_isalpha.
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// trimBlank removes leading and trailing spaces and tabs, as dpkg does.
func trimBlank(s string) string {
	for len(s) > 0 && isBlank(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isBlank(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// Parse parses a version string following dpkg's parseversion. Leading and
// trailing spaces and tabs are ignored. It returns a *ParseError for what
// dpkg rejects (an empty string, embedded blanks, an empty, non-numeric or
// too large (> 2147483647) epoch, nothing after the epoch's colon, an empty
// upstream version, an empty revision after a hyphen) and, stricter than
// dpkg, which only warns, for illegal characters: the upstream version may
// hold ASCII letters, digits and ".+~-:", the revision letters, digits and
// ".+~". An upstream version that does not start with a digit is accepted
// (dpkg only warns; Debian policy requires a digit).
//
// The epoch must be plain digits: dpkg's strtol would also take a sign.
func Parse(s string) (Version, error) {
	orig := s
	fail := func(msg string) (Version, error) {
		return Version{}, &ParseError{Version: orig, Msg: msg}
	}
	s = trimBlank(s)
	if s == "" {
		return fail("version string is empty")
	}
	for i := 0; i < len(s); i++ {
		if isBlank(s[i]) {
			return fail("version string has embedded spaces")
		}
	}
	var v Version
	if colon := strings.IndexByte(s, ':'); colon >= 0 {
		epoch := s[:colon]
		if epoch == "" {
			return fail("epoch in version is empty")
		}
		var n uint64
		for i := 0; i < len(epoch); i++ {
			if !isDigit(epoch[i]) {
				return fail("epoch in version is not number")
			}
			if n = n*10 + uint64(epoch[i]-'0'); n > maxEpoch {
				return fail("epoch in version is too big")
			}
		}
		s = s[colon+1:]
		if s == "" {
			return fail("nothing after colon in version number")
		}
		v.Epoch = uint(n)
	}
	v.Upstream = s
	if h := strings.LastIndexByte(s, '-'); h >= 0 {
		v.Upstream, v.Revision = s[:h], s[h+1:]
		if v.Revision == "" {
			return fail("revision number is empty")
		}
	}
	if v.Upstream == "" {
		return fail("upstream version is empty")
	}
	for i := 0; i < len(v.Upstream); i++ {
		if c := v.Upstream[i]; !isDigit(c) && !isAlpha(c) && !strings.ContainsRune(".-+~:", rune(c)) {
			return fail("invalid character in version number")
		}
	}
	for i := 0; i < len(v.Revision); i++ {
		if c := v.Revision[i]; !isDigit(c) && !isAlpha(c) && !strings.ContainsRune(".+~", rune(c)) {
			return fail("invalid character in revision number")
		}
	}
	return v, nil
}

// String returns the version in dpkg's syntax. The epoch is written when it
// is not 0, or when the upstream version holds a colon (so that the result
// parses back to v). String does not validate v.
func (v Version) String() string {
	var b strings.Builder
	b.Grow(len(v.Upstream) + len(v.Revision) + 12)
	if v.Epoch != 0 || strings.IndexByte(v.Upstream, ':') >= 0 {
		b.WriteString(strconv.FormatUint(uint64(v.Epoch), 10))
		b.WriteByte(':')
	}
	b.WriteString(v.Upstream)
	if v.Revision != "" {
		b.WriteByte('-')
		b.WriteString(v.Revision)
	}
	return b.String()
}

// CompareVersions compares a and b as dpkg does (dpkg_version_compare): -1
// if a sorts before b, 0 if they are equal, +1 if a sorts after b. Unlike
// Compare with "", the zero Version is not special: it equals "0".
func CompareVersions(a, b Version) int {
	switch {
	case a.Epoch < b.Epoch:
		return -1
	case a.Epoch > b.Epoch:
		return 1
	}
	if c := verrevcmp(a.Upstream, b.Upstream); c != 0 {
		return c
	}
	return verrevcmp(a.Revision, b.Revision)
}

// Compare compares two version strings as dpkg --compare-versions does:
// -1 if a sorts before b, 0 if they are equal, +1 if a sorts after b.
//
// It never fails. Versions that Parse rejects only for illegal characters
// or a non-digit start compare as dpkg compares them (it warns and goes
// on). The empty string, like dpkg's empty (absent) version, sorts before
// every other string, "~" included; a string of blanks counts as empty.
// For strings dpkg refuses, the part that cannot be parsed falls back to
// the same character ordering: an epoch that is not a number is not taken
// as an epoch (the whole string is the upstream version), an epoch too
// large for dpkg still compares numerically, an empty revision or upstream
// version is just empty, and embedded blanks are ordinary characters. So
// Compare is a total preorder on all strings: Compare(a, a) == 0,
// Compare(a, b) == -Compare(b, a), and it is transitive, which makes it fit
// for slices.SortFunc.
func Compare(a, b string) int {
	if a == b {
		return 0
	}
	a, b = trimBlank(a), trimBlank(b)
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	ea, ua, ra := split(a)
	eb, ub, rb := split(b)
	if c := compareNumeric(ea, eb); c != 0 {
		return c
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

// split splits s into epoch digits, upstream and revision leniently: it
// never fails, and agrees with Parse on everything Parse accepts.
// s has no leading or trailing blanks.
func split(s string) (epoch, upstream, revision string) {
	if colon := strings.IndexByte(s, ':'); colon > 0 {
		i := 0
		for i < colon && isDigit(s[i]) {
			i++
		}
		if i == colon {
			epoch, s = s[:colon], s[colon+1:]
		}
	}
	if h := strings.LastIndexByte(s, '-'); h >= 0 {
		return epoch, s[:h], s[h+1:]
	}
	return epoch, s, ""
}

// compareNumeric compares two strings of decimal digits by value ("" is 0).
func compareNumeric(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return strings.Compare(a, b)
}

// order is dpkg's order(): the weight of a character in a non-digit run.
// c < 0 stands for the end of the string.
func order(c int) int {
	switch {
	case c < 0:
		return 0
	case isDigit(byte(c)):
		return 0
	case isAlpha(byte(c)):
		return c
	case c == '~':
		return -1
	case c >= 0x80:
		// A signed char: (c - 256) + 256.
		return c
	default:
		// Other ASCII, NUL included: dpkg never sees a NUL (it ends a C
		// string), but it must not weigh 0 like a digit here, or the two
		// strings would get out of step.
		return c + 256
	}
}

// at returns s[i], or -1 past the end.
func at(s string, i int) int {
	if i < len(s) {
		return int(s[i])
	}
	return -1
}

// verrevcmp is dpkg's verrevcmp, returning -1, 0 or +1.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := order(at(a, i)), order(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

// sign returns -1, 0 or +1 as x is negative, zero or positive.
func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// MustParse is like Parse but panics on error. It is meant for constants in
// programs and tests.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}
