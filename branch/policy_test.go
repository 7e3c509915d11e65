package branch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/api"
)

var served = []api.Archive{
	{Name: "debian", Kind: "mirror", URL: "http://snap.example/debian", Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main", "contrib"}},
	{Name: "debian-security", Kind: "mirror", URL: "http://snap.example/debian-security", Suites: []string{"bookworm-security"}, Components: []string{"main"}},
	{Name: "ours", Kind: "custom", URL: "http://ours.example/ours", Suites: []string{"stable"}, Components: []string{"main"}},
}

func TestSources(t *testing.T) {
	set := map[string]string{"debian": "2026112301", "ours": "2026112005"}
	for _, tc := range []struct {
		o    SourcesOptions
		want string
	}{
		{SourcesOptions{Format: OneLine}, "deb http://snap.example/debian/2026112301/ bookworm main contrib\n" +
			"deb http://snap.example/debian/2026112301/ bookworm-updates main contrib\n" +
			"deb http://ours.example/ours/2026112005/ stable main\n"},
		{SourcesOptions{Format: OneLine, SignedBy: "/k.asc"}, "deb [signed-by=/k.asc] http://snap.example/debian/2026112301/ bookworm main contrib\n" +
			"deb [signed-by=/k.asc] http://snap.example/debian/2026112301/ bookworm-updates main contrib\n" +
			"deb [signed-by=/k.asc] http://ours.example/ours/2026112005/ stable main\n"},
		{SourcesOptions{Format: Deb822, SignedBy: "/k.asc"}, "Types: deb\nURIs: http://snap.example/debian/2026112301/\nSuites: bookworm bookworm-updates\n" +
			"Components: main contrib\nSigned-By: /k.asc\n\nTypes: deb\nURIs: http://ours.example/ours/2026112005/\nSuites: stable\nComponents: main\nSigned-By: /k.asc\n"},
		{SourcesOptions{Format: LiveBuild, LiveBuildArchive: "debian", LiveBuildSecurityArchive: "debian-security"},
			"--mirror-bootstrap http://snap.example/debian/2026112301/ --mirror-chroot http://snap.example/debian/2026112301/ " +
				"--mirror-binary http://snap.example/debian/2026112301/\n"},
	} {
		var b bytes.Buffer
		if err := Sources(&b, set, served, tc.o); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%+v:\n%s\nwant\n%s", tc.o, b.String(), tc.want)
		}
	}
	// Tags: the server's /tagged/<tag>/<archive>/, on the archive's host.
	var b bytes.Buffer
	if err := Sources(&b, map[string]string{"debian": "tagged/6.1", "ours": "tagged/6.1"}, served, SourcesOptions{Format: OneLine}); err != nil {
		t.Fatal(err)
	}
	if want := "deb http://snap.example/tagged/6.1/debian/ bookworm main contrib\n" +
		"deb http://snap.example/tagged/6.1/debian/ bookworm-updates main contrib\n" +
		"deb http://ours.example/tagged/6.1/ours/ stable main\n"; b.String() != want {
		t.Errorf("tagged sources:\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := Sources(&b, map[string]string{"gone": "2026112301"}, served, SourcesOptions{Format: OneLine}); err == nil {
		t.Error("sources of an archive the server lacks")
	}
	if err := Sources(&b, set, served, SourcesOptions{Format: "yaml"}); err == nil {
		t.Error("an unknown format was accepted")
	}
	if err := Sources(&b, map[string]string{"ours": "x"}, served, SourcesOptions{Format: LiveBuild, LiveBuildArchive: "debian"}); err == nil {
		t.Error("live-build sources without its archives")
	}
}

func TestExceptionsArchive(t *testing.T) {
	two := append(append([]api.Archive{}, served...), api.Archive{Name: "ours2", Kind: "custom"})
	for _, tc := range []struct {
		flag, setting string
		archives      []api.Archive
		want          string // "" for an error
	}{
		{"", "", served, "ours"},
		{"ours", "", two, "ours"},
		{"", "ours2", two, "ours2"},
		{"ours2", "ours", two, "ours2"},
		{"", "", two, ""},
		{"debian", "", served, ""},
		{"", "", served[:2], ""},
	} {
		got, err := ExceptionsArchive(tc.flag, tc.setting, tc.archives)
		if got.Name != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ExceptionsArchive(%q, %q, %d archives) = %q, %v; want %q", tc.flag, tc.setting, len(tc.archives), got.Name, err, tc.want)
		}
	}
}

// copier is a Copier in memory.
type copier struct {
	reqs []api.CopyRequest
	res  api.RepoResult
	err  error
}

func (c *copier) Archives(context.Context) ([]api.Archive, error) { return served, nil }

func (c *copier) RepoCopy(_ context.Context, req api.CopyRequest) (api.RepoResult, error) {
	if req.DryRun {
		res := c.res
		res.Serial = ""
		return res, nil
	}
	c.reqs = append(c.reqs, req)
	return c.res, c.err
}

func TestGrant(t *testing.T) {
	ctx := context.Background()
	root := makeTree(t, map[string]string{"debian/serial": "2026112301\n"})
	prefs := filepath.Join(root, filepath.FromSlash(PreferencesPath))
	os.MkdirAll(filepath.Dir(prefs), 0o755)
	before := "# our pins\nPackage: *\nPin: origin snap.example\nPin-Priority: 500\n"
	os.WriteFile(prefs, []byte(before), 0o644)
	tree, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	c := &copier{res: api.RepoResult{Archive: "ours", Suite: "stable", Serial: "2026113001", Added: []api.Package{
		{Package: "hello", Version: "2.10-4", Arch: "source", Kind: "source"},
		{Package: "hello", Version: "2.10-4", Arch: "amd64", Kind: "deb"},
		{Package: "hello-doc", Version: "2.10-4", Arch: "all", Kind: "deb"},
	}}}
	done, err := tree.Grant(ctx, c, Grant{Package: "hello", Version: "2.10-4", From: "debian/2026112901", Suite: "stable"})
	if err != nil {
		t.Fatal(err)
	}
	want := api.CopyRequest{Archive: "ours", Suite: "stable", FromArchive: "debian", FromSerial: "2026112901", Package: "hello", Version: "2.10-4", Publish: true}
	if len(c.reqs) != 1 || c.reqs[0] != want {
		t.Errorf("copies %+v, want %+v", c.reqs, want)
	}
	if len(done.Warnings) != 0 || done.Wrote != prefs || len(done.Pins) != 2 || !strings.Contains(done.Pins[1], "pinned hello-doc from origin ours.example at 999") {
		t.Errorf("granted %+v", done)
	}
	data, _ := os.ReadFile(prefs)
	if !strings.HasPrefix(string(data), before) || strings.Count(string(data), "Explanation: freeze exception") != 2 {
		t.Errorf("preferences after the grant:\n%s", data)
	}

	// A pin APT would not use copies nothing.
	os.WriteFile(prefs, []byte("Package: hello-doc\nPin: origin ours.example\nPin-Priority: 100\n"), 0o644)
	c.reqs = nil
	if _, err := tree.Grant(ctx, c, Grant{Package: "hello", From: "debian", Suite: "stable"}); err == nil || len(c.reqs) != 0 {
		t.Errorf("a grant its pin cannot win: %v, %d copies", err, len(c.reqs))
	}

	// The rule: no pin when the package's distribution is pinned at 990
	// or more, one otherwise, whatever the custom archive's own pin.
	c.res.From = &api.CopySource{Archive: "debian", Serial: "2026112901", Suite: "bookworm-updates", Origin: "Debian", ReleaseSuite: "stable-updates", Codename: "bookworm-updates"}
	for _, tt := range []struct {
		name, prefs string
		pinned      []string // packages pinned by the grant
	}{
		{"distribution at 990", "Package: *\nPin: release o=Debian,n=bookworm-updates\nPin-Priority: 990\n", nil},
		{"distribution at 990 by origin", "Package: *\nPin: origin snap.example\nPin-Priority: 1000\n", nil},
		{"one binary's distribution at 990", "Package: hello\nPin: release a=stable-updates\nPin-Priority: 995\n", []string{"hello-doc"}},
		{"distribution below 990", "Package: *\nPin: release n=bookworm-updates\nPin-Priority: 989\n", []string{"hello", "hello-doc"}},
		{"custom archive at 990, distribution not", "Package: *\nPin: origin ours.example\nPin-Priority: 990\n", []string{"hello", "hello-doc"}},
		{"another distribution at 990", "Package: *\nPin: release n=bookworm\nPin-Priority: 990\n", []string{"hello", "hello-doc"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(prefs, []byte(tt.prefs), 0o644)
			c.reqs, c.err = nil, nil
			done, err := tree.Grant(ctx, c, Grant{Package: "hello", From: "debian/2026112901", Suite: "stable"})
			if err != nil || len(c.reqs) != 1 {
				t.Fatalf("grant: %v, %d copies", err, len(c.reqs))
			}
			f, _ := ReadPreferences(root)
			var pinned []string
			for _, e := range f.Exceptions() {
				pinned = append(pinned, e.Package)
			}
			if !slices.Equal(pinned, tt.pinned) {
				t.Errorf("pinned %q, want %q (%q)", pinned, tt.pinned, done.Pins)
			}
			if len(tt.pinned) < 2 && !slices.ContainsFunc(done.Pins, func(p string) bool { return strings.Contains(p, "no pin needed") }) {
				t.Errorf("no word of the pin not needed: %q", done.Pins)
			}
		})
	}
	// Without a serial, the copy takes the snapshot the dry run found.
	c.reqs, c.err = nil, nil
	os.WriteFile(prefs, nil, 0o644)
	if _, err := tree.Grant(ctx, c, Grant{Package: "hello", From: "debian", Suite: "stable"}); err != nil || len(c.reqs) != 1 || c.reqs[0].FromSerial != "2026112901" {
		t.Errorf("grant from debian's newest: %v, copies %+v; want from 2026112901", err, c.reqs)
	}
	c.res.From = nil
	// A refused copy writes nothing.
	os.Remove(prefs)
	c.err = errors.New("409: conflict")
	if done, err := tree.Grant(ctx, c, Grant{Package: "hello", From: "debian", Suite: "stable"}); err == nil || done.Wrote != "" {
		t.Errorf("a refused copy: %+v, %v", done, err)
	}
	if _, err := os.Stat(prefs); !os.IsNotExist(err) {
		t.Errorf("a refused copy wrote the preferences: %v", err)
	}
}
