package repogen

import (
	"strings"

	"github.com/aptsnap/aptsnap/debver"
)

// splitVersion splits a Debian version into upstream version and revision
// ("" when the version is native).
func splitVersion(v string) (upstream, revision string) {
	pv, err := debver.Parse(v)
	if err != nil {
		return v, ""
	}
	return pv.Upstream, pv.Revision
}

// noEpoch returns v without its epoch, as used in file names.
func noEpoch(v string) string {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		return v[i+1:]
	}
	return v
}
