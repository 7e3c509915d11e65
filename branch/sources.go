package branch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/api"
)

// Source formats.
const (
	OneLine   = "one-line"   // deb [signed-by=KEY] URL SUITE COMPONENTS
	Deb822    = "deb822"     // Types/URIs/Suites/Components stanzas
	LiveBuild = "live-build" // lb config --mirror-* arguments
)

// SourcesOptions say how Sources writes.
type SourcesOptions struct {
	// Format is OneLine, Deb822 or LiveBuild.
	Format string
	// SignedBy is the server key's path for Signed-By (none if empty).
	SignedBy string
	// LiveBuildArchive and LiveBuildSecurityArchive are the archives
	// behind --mirror-bootstrap/-chroot/-binary and --mirror-*-security.
	LiveBuildArchive, LiveBuildSecurityArchive string
}

// Resolved returns the serials a build uses: those prepare-build wrote
// (ResolvedPath), or, before that, the tree's with latest resolved now.
func (t *Tree) Resolved(ctx context.Context, srv Server) (map[string]string, error) {
	set, err := LoadResolved(t.Root)
	if !errors.Is(err, os.ErrNotExist) {
		return set, err
	}
	set = t.Serials()
	for arc, s := range set {
		if s == Latest {
			l, err := srv.Latest(ctx, arc)
			if err != nil {
				return nil, err
			}
			set[arc] = l
		}
	}
	return set, nil
}

// Sources writes the APT sources of the snapshots set names (archive ->
// serial) on the server serving archives.
func Sources(w io.Writer, set map[string]string, archives []api.Archive, o SourcesOptions) error {
	byName := map[string]api.Archive{}
	for _, a := range archives {
		byName[a.Name] = a
	}
	names := make([]string, 0, len(set))
	for n := range set {
		if _, ok := byName[n]; !ok {
			return fmt.Errorf("sources: the server has no archive %q", n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	uri := func(n string) string {
		if tag, ok := Tag(set[n]); ok {
			// The server's /tagged/<tag>/<archive>/, beside /<archive>/.
			return strings.TrimSuffix(byName[n].URL, "/"+n) + "/tagged/" + tag + "/" + n + "/"
		}
		return byName[n].URL + "/" + set[n] + "/"
	}
	switch o.Format {
	case OneLine:
		opt := ""
		if o.SignedBy != "" {
			opt = "[signed-by=" + o.SignedBy + "] "
		}
		for _, n := range names {
			for _, s := range byName[n].Suites {
				fmt.Fprintf(w, "deb %s%s %s %s\n", opt, uri(n), s, strings.Join(byName[n].Components, " "))
			}
		}
	case Deb822:
		for i, n := range names {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", uri(n),
				strings.Join(byName[n].Suites, " "), strings.Join(byName[n].Components, " "))
			if o.SignedBy != "" {
				fmt.Fprintf(w, "Signed-By: %s\n", o.SignedBy)
			}
		}
	case LiveBuild:
		var args []string
		if _, ok := set[o.LiveBuildArchive]; ok {
			for _, f := range []string{"bootstrap", "chroot", "binary"} {
				args = append(args, "--mirror-"+f, uri(o.LiveBuildArchive))
			}
		}
		if _, ok := set[o.LiveBuildSecurityArchive]; ok {
			for _, f := range []string{"chroot-security", "binary-security"} {
				args = append(args, "--mirror-"+f, uri(o.LiveBuildSecurityArchive))
			}
		}
		if len(args) == 0 {
			return fmt.Errorf("sources: the branch has neither %s nor %s", o.LiveBuildArchive, o.LiveBuildSecurityArchive)
		}
		fmt.Fprintln(w, strings.Join(args, " "))
	default:
		return fmt.Errorf("sources: --format must be one-line, deb822 or live-build, not %q", o.Format)
	}
	return nil
}
