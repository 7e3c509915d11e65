package apttest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/internal/apttest"
)

// dump returns "apt-config dump" under the helper's configuration.
func dump(t *testing.T, a *apttest.APT) string {
	t.Helper()
	out, _, err := a.Exec("apt-config", "dump")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConfigIsolated checks with apt-config that the host configuration
// does not leak in and that the date checks are on.
func TestConfigIsolated(t *testing.T) {
	a := apttest.New(t, "deb http://127.0.0.1:9/ bookworm main")
	d := dump(t, a)
	root := a.Root()
	tests := []struct {
		line string
		want bool
	}{
		{`Acquire::Check-Valid-Until "true";`, true},
		{`Acquire::Check-Date "true";`, true},
		{`Acquire::Check-Valid-Until "false";`, false},
		{`Acquire::Check-Date "false";`, false},
		{`APT::Sandbox::User "root";`, true},
		{`Debug::NoLocking "1";`, true},
		{`Dir::Etc "` + root + `/etc/";`, true},
		{`Dir::State::status "` + root + `/status";`, true},
		{`Dir::Cache::archives "` + root + `/cache/archives/";`, true},
		{`Acquire::http::Proxy "DIRECT";`, true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if got := strings.Contains(d, tt.line+"\n"); got != tt.want {
				t.Errorf("apt-config dump contains %q: %v, want %v", tt.line, got, tt.want)
			}
		})
	}
	// Resolved directories are all inside the root.
	for _, key := range []string{"Dir::Etc::parts/d", "Dir::Etc::main/f", "Dir::Etc::sourcelist/f", "Dir::Etc::preferencesparts/d", "Dir::State::lists/d", "Dir::Log/d"} {
		out, _, err := a.Exec("apt-config", "shell", "V", key)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "'"+root+"/") {
			t.Errorf("%s resolves outside the root: %s", key, out)
		}
	}
	// Nothing of the host's apt.conf.d: every option set there that ours
	// does not set must be absent.
	host, _ := filepath.Glob("/etc/apt/apt.conf.d/*")
	for _, f := range host {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if strings.Contains(string(data), "Check-Valid-Until") && strings.Contains(d, `Check-Valid-Until "false"`) {
			t.Errorf("host file %s leaked into the configuration", f)
		}
	}
}

func TestExtraOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []string
		want string
	}{
		{"Name=value", []string{"Acquire::Check-Valid-Until=false"}, `Acquire::Check-Valid-Until "false";`},
		{"preformed -o", []string{"-oAcquire::Retries=3"}, `Acquire::Retries "3";`},
		{"several", []string{"Acquire::Check-Date=false", "APT::Architectures=amd64,arm64"}, `Acquire::Check-Date "false";`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := apttest.New(t, "", tt.opts...)
			if d := dump(t, a); !strings.Contains(d, tt.want+"\n") {
				t.Errorf("dump lacks %q", tt.want)
			}
		})
	}
}

func TestSources(t *testing.T) {
	tests := []struct {
		name    string
		sources string
		file    string // where the sources must be written
		wantURI string
	}{
		{"one-line with the ROOT variable", "deb [signed-by=$ROOT/key.asc] http://127.0.0.1:9/ bookworm main", "etc/sources.list", "http://127.0.0.1:9/dists/bookworm/InRelease"},
		{"deb822", "Types: deb\nURIs: http://127.0.0.1:9/debian/\nSuites: trixie\nComponents: main\nSigned-By: ${ROOT}/key.asc\n", "etc/sources.list.d/apttest.sources", "http://127.0.0.1:9/debian/dists/trixie/InRelease"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := apttest.New(t, tt.sources)
			data, err := os.ReadFile(filepath.Join(a.Root(), tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "$ROOT") || strings.Contains(string(data), "${ROOT}") || !strings.Contains(string(data), a.Root()+"/key.asc") {
				t.Errorf("$ROOT not expanded:\n%s", data)
			}
			// apt reads them: print-uris of an update needs no network.
			out, err := a.Run("update", "--print-uris")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tt.wantURI) {
				t.Errorf("apt-get update --print-uris lacks %s:\n%s", tt.wantURI, out)
			}
		})
	}
}

func TestRunError(t *testing.T) {
	a := apttest.New(t, "")
	_, err := a.Run("frobnicate")
	if err == nil || !strings.Contains(err.Error(), "E: Invalid operation frobnicate") {
		t.Fatalf("err = %v, want apt's error message", err)
	}
	if p := a.WriteFile("etc/preferences.d/pin", []byte("Package: *\nPin: release a=x\nPin-Priority: 1\n")); !strings.HasPrefix(p, a.Root()) {
		t.Fatalf("WriteFile returned %s", p)
	}
	if out, _, err := a.Exec("apt-cache", "policy"); err != nil {
		t.Fatalf("apt-cache policy with a pin file: %v\n%s", err, out)
	}
}
