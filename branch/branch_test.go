package branch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
)

// fakeServer is a Server in memory.
type fakeServer struct {
	latest map[string]string
	snaps  map[string]api.Snapshot // "archive/serial"
	errs   map[string]error        // "archive/serial" or "archive" (for Latest)
	bumped []string                // "archive/serial/days"
}

func (f *fakeServer) Latest(_ context.Context, archive string) (string, error) {
	if err := f.errs[archive]; err != nil {
		return "", err
	}
	s, ok := f.latest[archive]
	if !ok {
		return "", fmt.Errorf("latest %s: %w", archive, &api.Error{Status: 404, Message: "no such archive"})
	}
	return s, nil
}

func (f *fakeServer) Snapshot(_ context.Context, archive, serial string) (api.Snapshot, error) {
	k := archive + "/" + serial
	if err := f.errs[k]; err != nil {
		return api.Snapshot{}, err
	}
	s, ok := f.snaps[k]
	if !ok && f.latest[archive] == serial {
		s, ok = api.Snapshot{Archive: archive, Serial: serial}, true // the newest exists
	}
	if !ok {
		// What api.Client returns for a 404.
		return api.Snapshot{}, fmt.Errorf("snapshot %s: %w", k, &api.Error{Status: 404, Message: "not found"})
	}
	return s, nil
}

func (f *fakeServer) Bump(_ context.Context, archive, serial string, days int, _ bool) (api.BumpResult, error) {
	k := archive + "/" + serial
	if err := f.errs[k]; err != nil {
		return api.BumpResult{}, err
	}
	f.bumped = append(f.bumped, fmt.Sprintf("%s/%d", k, days))
	return api.BumpResult{Snapshot: api.Snapshot{Archive: archive, Serial: serial}}, nil
}

// makeTree writes a source tree: files maps a path under
// config/APT_snapshots.d to its contents.
func makeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		p = filepath.Join(root, "config", "APT_snapshots.d", filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// readSerials reads the serial files as they are on disk.
func readSerials(t *testing.T, root string, archives ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range archives {
		b, err := os.ReadFile(SerialPath(root, a))
		if err != nil {
			t.Fatal(err)
		}
		out[a] = string(b)
	}
	return out
}

// standard is a tree of three archives, debian-security a freeze exception.
func standard(t *testing.T) string {
	return makeTree(t, map[string]string{
		"debian/serial":          "latest\n",
		"debian-security/serial": "latest\n",
		"mycustom/serial":        "2026110101\n",
		"aptsnap.toml": `server = "http://127.0.0.1:8080"
freeze_exceptions = ["debian-security"]
exceptions_archive = "mycustom"
`,
	})
}

func standardServer() *fakeServer {
	return &fakeServer{latest: map[string]string{
		"debian":          "2026113002",
		"debian-security": "2026120101",
		"mycustom":        "2026113001",
	}}
}

func TestOpen(t *testing.T) {
	root := makeTree(t, map[string]string{
		"debian/serial":          "2026113001\n",
		"debian-security/serial": "latest", // no newline: accepted
		"README":                 "not an archive\n",
		".git-keep/serial":       "junk\n", // hidden: ignored
		"aptsnap.toml":           "server = \"http://snap.example.org\"\nfreeze_exceptions = [\"debian-security\"]\n",
	})
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tr.Archives(), []string{"debian", "debian-security"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Archives() = %v, want %v", got, want)
	}
	if got, want := tr.Serials(), map[string]string{"debian": "2026113001", "debian-security": "latest"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Serials() = %v, want %v", got, want)
	}
	want := Settings{Server: "http://snap.example.org", FreezeExceptions: []string{"debian-security"}}
	if !reflect.DeepEqual(tr.Settings, want) {
		t.Errorf("Settings = %+v, want %+v", tr.Settings, want)
	}

	// No settings file: zero settings.
	tr, err = Open(makeTree(t, map[string]string{"debian/serial": "latest\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr.Settings, Settings{}) {
		t.Errorf("Settings = %+v, want zero", tr.Settings)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // in the error
	}{
		{"no directory", nil, "config/APT_snapshots.d"},
		{"dashes", map[string]string{"debian/serial": "2026-11-30\n"}, "debian/serial"},
		{"short serial", map[string]string{"debian/serial": "20261130\n"}, "debian/serial"},
		{"upper case", map[string]string{"debian/serial": "LATEST\n"}, "debian/serial"},
		{"empty", map[string]string{"debian/serial": ""}, "debian/serial"},
		{"two lines", map[string]string{"debian/serial": "2026113001\n2026113002\n"}, "debian/serial"},
		{"no serial file", map[string]string{"debian/README": "x\n"}, "debian/serial"},
		{"unknown key", map[string]string{"debian/serial": "latest\n", "aptsnap.toml": "sever = \"x\"\n"}, "unknown keys: sever"},
		{"bad toml", map[string]string{"debian/serial": "latest\n", "aptsnap.toml": "server = \n"}, "aptsnap.toml"},
		{"unknown exception", map[string]string{"debian/serial": "latest\n", "aptsnap.toml": "freeze_exceptions = [\"debian-security\"]\n"}, "debian-security"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.files != nil {
				root = makeTree(t, tt.files)
			}
			_, err := Open(root)
			if err == nil || !strings.Contains(filepath.ToSlash(err.Error()), tt.want) {
				t.Errorf("Open error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCat(t *testing.T) {
	tr, err := Open(standard(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tr.Cat(&b); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "debian: latest\ndebian-security: latest\nmycustom: 2026110101\n"; got != want {
		t.Errorf("Cat = %q, want %q", got, want)
	}
	b.Reset()
	if err := tr.CatJSON(&b); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), `{"debian":"latest","debian-security":"latest","mycustom":"2026110101"}`+"\n"; got != want {
		t.Errorf("CatJSON = %q, want %q", got, want)
	}
}

func TestGetLatest(t *testing.T) {
	tr, err := Open(standard(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := standardServer()
	got, err := tr.GetLatest(context.Background(), srv)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"debian": "2026113002", "debian-security": "2026120101", "mycustom": "2026113001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GetLatest() = %v, want %v", got, want)
	}
	got, err = tr.GetLatest(context.Background(), srv, "mycustom")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"mycustom": "2026113001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GetLatest(mycustom) = %v, want %v", got, want)
	}
	if _, err := tr.GetLatest(context.Background(), srv, "ubuntu"); err == nil || !strings.Contains(err.Error(), "ubuntu") {
		t.Errorf("GetLatest(ubuntu) error = %v", err)
	}
	if _, err := tr.GetLatest(context.Background(), nil, "debian"); err == nil || !strings.Contains(err.Error(), "no server") {
		t.Errorf("GetLatest without a server: error %v", err)
	}
	srv.latest["debian"] = "latest"
	if _, err := tr.GetLatest(context.Background(), srv, "debian"); err == nil {
		t.Error("GetLatest accepted a server answer that is not a serial")
	}
}

func TestFreeze(t *testing.T) {
	all := []string{"debian", "debian-security", "mycustom"}
	tests := []struct {
		name          string
		archives      []string
		exceptionsToo bool
		changes       []Change
		files         map[string]string
	}{
		{
			name: "all, exceptions stay latest",
			changes: []Change{
				{"debian", "latest", "2026113002"},
				{"debian-security", "latest", "latest"},
				{"mycustom", "2026110101", "2026113001"},
			},
			files: map[string]string{"debian": "2026113002\n", "debian-security": "latest\n", "mycustom": "2026113001\n"},
		},
		{
			name: "all, exceptions too", exceptionsToo: true,
			changes: []Change{
				{"debian", "latest", "2026113002"},
				{"debian-security", "latest", "2026120101"},
				{"mycustom", "2026110101", "2026113001"},
			},
			files: map[string]string{"debian": "2026113002\n", "debian-security": "2026120101\n", "mycustom": "2026113001\n"},
		},
		{
			name: "one archive", archives: []string{"debian", "debian"},
			changes: []Change{{"debian", "latest", "2026113002"}},
			files:   map[string]string{"debian": "2026113002\n", "debian-security": "latest\n", "mycustom": "2026110101\n"},
		},
		{
			name: "an exception by name stays latest", archives: []string{"debian-security"},
			changes: []Change{{"debian-security", "latest", "latest"}},
			files:   map[string]string{"debian": "latest\n", "debian-security": "latest\n", "mycustom": "2026110101\n"},
		},
		{
			name: "an exception by name, exceptions too", archives: []string{"debian-security"}, exceptionsToo: true,
			changes: []Change{{"debian-security", "latest", "2026120101"}},
			files:   map[string]string{"debian": "latest\n", "debian-security": "2026120101\n", "mycustom": "2026110101\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := standard(t)
			tr, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			changes, err := tr.Freeze(context.Background(), standardServer(), tt.archives, tt.exceptionsToo)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(changes, tt.changes) {
				t.Errorf("changes = %v, want %v", changes, tt.changes)
			}
			if got := readSerials(t, root, all...); !reflect.DeepEqual(got, tt.files) {
				t.Errorf("serial files = %q, want %q", got, tt.files)
			}
			// The tree in memory and a fresh Open agree.
			again, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again.Serials(), tr.Serials()) {
				t.Errorf("reopened %v, in memory %v", again.Serials(), tr.Serials())
			}
			// No temporary files left behind.
			for _, a := range all {
				ents, _ := os.ReadDir(filepath.Dir(SerialPath(root, a)))
				if len(ents) != 1 {
					t.Errorf("%s: %d files, want only serial", a, len(ents))
				}
			}
		})
	}
}

func TestFreezeErrors(t *testing.T) {
	root := standard(t)
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Freeze(context.Background(), standardServer(), []string{"ubuntu"}, false); err == nil || !strings.Contains(err.Error(), "ubuntu") {
		t.Errorf("unknown archive: error %v", err)
	}
	// A server failure on one archive writes nothing at all.
	srv := standardServer()
	srv.errs = map[string]error{"mycustom": errors.New("connection refused")}
	if _, err := tr.Freeze(context.Background(), srv, nil, true); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("server failure: error %v", err)
	}
	want := map[string]string{"debian": "latest\n", "debian-security": "latest\n", "mycustom": "2026110101\n"}
	if got := readSerials(t, root, "debian", "debian-security", "mycustom"); !reflect.DeepEqual(got, want) {
		t.Errorf("after a failed freeze: %q, want %q", got, want)
	}
}

func TestThaw(t *testing.T) {
	root := makeTree(t, map[string]string{
		"debian/serial":   "2026113002\n",
		"mycustom/serial": "2026113001\n",
		"other/serial":    "latest\n",
	})
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := tr.Thaw([]string{"mycustom"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Change{{"mycustom", "2026113001", "latest"}}; !reflect.DeepEqual(changes, want) {
		t.Errorf("Thaw(mycustom) = %v, want %v", changes, want)
	}
	changes, err = tr.Thaw(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{"debian", "2026113002", "latest"}, {"mycustom", "latest", "latest"}, {"other", "latest", "latest"}}
	if !reflect.DeepEqual(changes, want) {
		t.Errorf("Thaw() = %v, want %v", changes, want)
	}
	if got, want := readSerials(t, root, "debian", "mycustom", "other"), map[string]string{"debian": "latest\n", "mycustom": "latest\n", "other": "latest\n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("serial files = %q, want %q", got, want)
	}
	if _, err := tr.Thaw([]string{"nope"}); err == nil {
		t.Error("Thaw(nope) succeeded")
	}
}

func TestFreezeCatJSONPrepareBuild(t *testing.T) {
	ctx := context.Background()
	root := standard(t)
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Freeze(ctx, standardServer(), nil, true); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := tr.CatJSON(&js); err != nil {
		t.Fatal(err)
	}
	frozenJSON := `{"debian":"2026113002","debian-security":"2026120101","mycustom":"2026113001"}` + "\n"
	if js.String() != frozenJSON {
		t.Fatalf("CatJSON after freeze = %q, want %q", js.String(), frozenJSON)
	}

	// Later, elsewhere: the branch is thawed and the server has moved on;
	// the build from the recorded JSON uses the recorded serials.
	if _, err := tr.Thaw(nil); err != nil {
		t.Fatal(err)
	}
	moved := &fakeServer{latest: map[string]string{"debian": "2026121501", "debian-security": "2026121502", "mycustom": "2026121503"}}
	if _, err := tr.PrepareBuild(ctx, moved, js.Bytes()); err == nil || !strings.Contains(err.Error(), "debian builds from 2026113002, which the server does not have") {
		t.Errorf("PrepareBuild of serials the server lacks: %v", err)
	}
	moved.snaps = map[string]api.Snapshot{"debian/2026113002": {}, "debian-security/2026120101": {}, "mycustom/2026113001": {}}
	got, err := tr.PrepareBuild(ctx, moved, js.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"debian": "2026113002", "debian-security": "2026120101", "mycustom": "2026113001"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PrepareBuild(from JSON) = %v, want %v", got, want)
	}
	b, err := os.ReadFile(filepath.Join(root, "tmp", "APT_snapshots.resolved.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != frozenJSON {
		t.Errorf("resolved file = %q, want %q", b, frozenJSON)
	}
	loaded, err := LoadResolved(root)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, want) {
		t.Errorf("LoadResolved = %v, want %v", loaded, want)
	}
}

func TestPrepareBuildResolvesLatest(t *testing.T) {
	ctx := context.Background()
	root := standard(t)
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	// Freeze leaves debian-security latest; prepare-build resolves it.
	if _, err := tr.Freeze(ctx, standardServer(), nil, false); err != nil {
		t.Fatal(err)
	}
	later := &fakeServer{latest: map[string]string{"debian": "2026120301", "debian-security": "2026120302", "mycustom": "2026120303"},
		snaps: map[string]api.Snapshot{"debian/2026113002": {}, "mycustom/2026113001": {}}}
	got, err := tr.PrepareBuild(ctx, later, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"debian": "2026113002", "debian-security": "2026120302", "mycustom": "2026113001"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PrepareBuild = %v, want %v", got, want)
	}
	b, err := os.ReadFile(ResolvedPath(root))
	if err != nil {
		t.Fatal(err)
	}
	resolved := `{"debian":"2026113002","debian-security":"2026120302","mycustom":"2026113001"}` + "\n"
	if string(b) != resolved {
		t.Errorf("resolved file = %q, want %q", b, resolved)
	}
	// The serial files are not touched.
	if got, want := readSerials(t, root, "debian-security"), map[string]string{"debian-security": "latest\n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("serial files = %q, want %q", got, want)
	}
	// And that resolved set rebuilds the same, the server having moved on again.
	again, err := tr.PrepareBuild(ctx, &fakeServer{snaps: map[string]api.Snapshot{"debian/2026113002": {}, "debian-security/2026120302": {}, "mycustom/2026113001": {}}}, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, want) {
		t.Errorf("PrepareBuild(resolved JSON) = %v, want %v", again, want)
	}
}

func TestPrepareBuildRefuses(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"latest", `{"debian":"2026113002","debian-security":"latest","mycustom":"2026113001"}`, `debian-security: "latest" is neither a serial`},
		{"malformed serial", `{"debian":"2026-11-30","debian-security":"2026120101","mycustom":"2026113001"}`, `debian: "2026-11-30" is neither a serial`},
		{"missing archive", `{"debian":"2026113002","mycustom":"2026113001"}`, "lacks archives of the tree: debian-security"},
		{"unknown archive", `{"debian":"2026113002","debian-security":"2026120101","mycustom":"2026113001","ubuntu":"2026113001"}`, "does not have: ubuntu"},
		{"not an object", `["debian"]`, "serials JSON"},
		{"null", `null`, "not an object"},
		{"number", `{"debian":2026113002,"debian-security":"2026120101","mycustom":"2026113001"}`, "serials JSON"},
		{"trailing data", `{"debian":"2026113002","debian-security":"2026120101","mycustom":"2026113001"} {}`, "more than one value"},
		{"broken", `{"debian":`, "serials JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := standard(t)
			tr, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tr.PrepareBuild(context.Background(), standardServer(), []byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("PrepareBuild error = %v, want one containing %q", err, tt.want)
			}
			if _, err := os.Stat(ResolvedPath(root)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("resolved file written despite the error (%v)", err)
			}
		})
	}
}

func TestLoadResolvedMissing(t *testing.T) {
	if _, err := LoadResolved(t.TempDir()); err == nil || !strings.Contains(err.Error(), "prepare-build") {
		t.Errorf("LoadResolved error = %v", err)
	}
}

func TestBump(t *testing.T) {
	root := makeTree(t, map[string]string{
		"debian/serial":          "2026113002\n",
		"debian-security/serial": "latest\n",
		"mycustom/serial":        "2026113001\n",
	})
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	srv := &fakeServer{}
	res, err := tr.Bump(context.Background(), srv, 30, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"debian/2026113002/30", "mycustom/2026113001/30"}; !reflect.DeepEqual(srv.bumped, want) {
		t.Errorf("bumped %v, want %v", srv.bumped, want)
	}
	if len(res) != 2 || res[0].Snapshot.Archive != "debian" || res[1].Snapshot.Archive != "mycustom" {
		t.Errorf("results %+v", res)
	}

	srv = &fakeServer{errs: map[string]error{"mycustom/2026113001": &api.Error{Status: 403, Message: "forbidden"}}}
	res, err = tr.Bump(context.Background(), srv, 30, false)
	if !errors.Is(err, api.ErrForbidden) || len(res) != 1 {
		t.Errorf("Bump with a refusal: %d results, error %v", len(res), err)
	}
}

func TestExpiry(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	root := makeTree(t, map[string]string{
		"debian/serial":          "2026113002\n",
		"debian-security/serial": "latest\n", // not checked
		"mycustom/serial":        "2026113001\n",
		"torproject/serial":      "2026112001\n",
	})
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	snap := func(a, s string, vu time.Time) api.Snapshot {
		return api.Snapshot{Archive: a, Serial: s, ValidUntil: vu}
	}
	tests := []struct {
		name    string
		snaps   []api.Snapshot
		minDays int
		want    []Problem
	}{
		{
			name: "all fine",
			snaps: []api.Snapshot{
				snap("debian", "2026113002", now.Add(10*24*time.Hour)),
				snap("mycustom", "2026113001", now.Add(7*24*time.Hour)),
				snap("torproject", "2026112001", now.Add(7*24*time.Hour)),
			},
			minDays: 7,
		},
		{
			name: "one expires within N days",
			snaps: []api.Snapshot{
				snap("debian", "2026113002", time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)),
				snap("mycustom", "2026113001", now.Add(7*24*time.Hour)),
				snap("torproject", "2026112001", now.Add(8*24*time.Hour)),
			},
			minDays: 7,
			want:    []Problem{{"debian", "2026113002", "expires 2026-12-03T12:00:00Z, in 2.5 days"}},
		},
		{
			name: "same, fewer days asked",
			snaps: []api.Snapshot{
				snap("debian", "2026113002", time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)),
				snap("mycustom", "2026113001", now.Add(7*24*time.Hour)),
				snap("torproject", "2026112001", now.Add(8*24*time.Hour)),
			},
			minDays: 2,
		},
		{
			name: "one gone, one expired but not collected",
			snaps: []api.Snapshot{
				snap("debian", "2026113002", now.Add(30*24*time.Hour)),
				snap("torproject", "2026112001", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)),
			},
			minDays: 7,
			want: []Problem{
				{"mycustom", "2026113001", "gone"},
				{"torproject", "2026112001", "expired 2026-11-30T00:00:00Z, 1.0 days ago"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &fakeServer{snaps: map[string]api.Snapshot{}}
			for _, s := range tt.snaps {
				srv.snaps[s.Archive+"/"+s.Serial] = s
			}
			got, err := tr.Expiry(context.Background(), srv, tt.minDays, now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Expiry = %q, want %q", got, tt.want)
			}
		})
	}

	// A server error other than not-found is an error, not a problem.
	srv := &fakeServer{
		snaps: map[string]api.Snapshot{"debian/2026113002": snap("debian", "2026113002", now.Add(30*24*time.Hour))},
		errs:  map[string]error{"mycustom/2026113001": fmt.Errorf("snapshot: %w", &api.Error{Status: 500, Message: "database is locked"})},
	}
	if _, err := tr.Expiry(context.Background(), srv, 7, now); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("Expiry with a server error: %v", err)
	}
}

// TestTaggedBranch: a stable branch builds from the tagged snapshots of
// its last release: its serial files name tags, which freeze and thaw
// leave alone unless named, prepare-build checks exist and keeps, bump
// skips and expiry never finds expiring, only gone.
func TestTaggedBranch(t *testing.T) {
	ctx := context.Background()
	root := makeTree(t, map[string]string{
		"debian/serial":          "tagged/6.1\n",
		"debian-security/serial": "latest\n",
		"mycustom/serial":        "tagged/6.1\n",
	})
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	srv := standardServer()
	srv.snaps = map[string]api.Snapshot{
		"debian/@6.1":   {Archive: "debian", Serial: "@6.1"},
		"mycustom/@6.1": {Archive: "mycustom", Serial: "@6.1"},
	}
	res, err := tr.PrepareBuild(ctx, srv, nil)
	want := map[string]string{"debian": "tagged/6.1", "debian-security": "2026120101", "mycustom": "tagged/6.1"}
	if err != nil || !maps.Equal(res, want) {
		t.Fatalf("PrepareBuild = %v, %v; want %v", res, err, want)
	}
	if got, err := LoadResolved(root); err != nil || !maps.Equal(got, want) {
		t.Errorf("LoadResolved = %v, %v", got, err)
	}
	bumps, err := tr.Bump(ctx, srv, 30, false)
	if err != nil || len(bumps) != 0 || len(srv.bumped) != 0 {
		t.Errorf("Bump of a tagged branch: %v %v %v", bumps, srv.bumped, err)
	}
	probs, err := tr.Expiry(ctx, srv, 10000, time.Now())
	if err != nil || len(probs) != 0 {
		t.Errorf("Expiry of a tagged branch: %v, %v", probs, err)
	}

	// Freeze and thaw of the whole branch leave the tags.
	if _, err := tr.Freeze(ctx, srv, nil, true); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Thaw(nil); err != nil {
		t.Fatal(err)
	}
	if got := readSerials(t, root, "debian", "mycustom"); got["debian"] != "tagged/6.1\n" || got["mycustom"] != "tagged/6.1\n" {
		t.Errorf("freeze and thaw moved the tags: %v", got)
	}
	// Named, a tagged archive moves.
	if _, err := tr.Freeze(ctx, srv, []string{"debian"}, false); err != nil {
		t.Fatal(err)
	}
	if got := readSerials(t, root, "debian"); got["debian"] != "2026113002\n" {
		t.Errorf("freeze debian: %q", got["debian"])
	}

	// A tag the server does not have: prepare-build and expiry say so.
	delete(srv.snaps, "mycustom/@6.1")
	if _, err := tr.PrepareBuild(ctx, srv, nil); err == nil || !strings.Contains(err.Error(), "mycustom builds from tagged/6.1, which the server does not have") {
		t.Errorf("PrepareBuild with a missing tag: %v", err)
	}
	probs, err = tr.Expiry(ctx, srv, 1, time.Now())
	if err != nil || len(probs) != 1 || probs[0] != (Problem{Archive: "mycustom", Serial: "tagged/6.1", What: "gone"}) {
		t.Errorf("Expiry with a missing tag: %+v, %v", probs, err)
	}
	for _, bad := range []string{"tagged/", "tagged/../x", "tagged/6.1/x", "tagged/-x"} {
		root := makeTree(t, map[string]string{"debian/serial": bad + "\n"})
		if _, err := Open(root); err == nil {
			t.Errorf("Open accepted serial %q", bad)
		}
	}
}
