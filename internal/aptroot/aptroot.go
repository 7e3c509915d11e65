// Package aptroot writes the configuration of a throwaway APT root: an
// APT_CONFIG file that apt reads before anything else, moving Dir and
// Dir::Etc (so that the host's /etc/apt is never read), the state, cache
// and dpkg status under the root, with Valid-Until and Date checked as on
// a stock system. Used by the verification of stable updates
// (stablecheck) and by the tests (internal/apttest).
package aptroot

import (
	"os"
	"path/filepath"
	"strings"
)

// Dirs are the directories Prepare makes under a root.
var Dirs = []string{"etc/apt.conf.d", "etc/sources.list.d", "etc/preferences.d", "etc/trusted.gpg.d",
	"state/lists/partial", "cache/archives/partial", "log"}

// Prepare makes root's directories and an empty dpkg status ("status").
func Prepare(root string) error {
	for _, d := range Dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(root, "status"), nil, 0o644)
}

// Conf returns the configuration of an APT root at root (an absolute
// path) for arch, as "Name "value";" lines; extra lines are appended.
// Sources are <root>/etc/sources.list and sources.list.d/, preferences
// <root>/etc/preferences and preferences.d/, keys for sources without
// signed-by <root>/etc/trusted.gpg.d/.
func Conf(root, arch string, extra ...string) string {
	q := Q
	lines := []string{
		"Dir " + q(root+"/"),
		"Dir::Etc " + q(root+"/etc/"),
		"Dir::Etc::main " + q("apt.conf"),
		"Dir::Etc::parts " + q("apt.conf.d/"),
		"Dir::Etc::SourceList " + q("sources.list"),
		"Dir::Etc::SourceParts " + q("sources.list.d/"),
		"Dir::Etc::Preferences " + q("preferences"),
		"Dir::Etc::PreferencesParts " + q("preferences.d/"),
		"Dir::Etc::Trusted " + q(""),
		"Dir::Etc::TrustedParts " + q("trusted.gpg.d/"),
		"Dir::State " + q(root+"/state/"),
		"Dir::State::lists " + q(root+"/state/lists/"),
		"Dir::State::status " + q(root+"/status"),
		"Dir::Cache " + q(root+"/cache/"),
		"Dir::Cache::archives " + q(root+"/cache/archives/"),
		"Dir::Log " + q(root+"/log/"),
		// No locks: the root is ours alone.
		"Debug::NoLocking " + q("1"),
		// Security checks as on a stock system, explicitly.
		"Acquire::Check-Valid-Until " + q("true"),
		"Acquire::Check-Date " + q("true"),
		"Acquire::AllowInsecureRepositories " + q("false"),
		"Acquire::AllowDowngradeToInsecureRepositories " + q("false"),
		"Acquire::Languages " + q("none"),
		"Acquire::PDiffs " + q("false"),
		"APT::Architecture " + q(arch),
		"APT::Architectures " + q(arch),
	}
	lines = append(lines, extra...)
	return strings.Join(lines, ";\n") + ";\n"
}

// Q quotes a value for a configuration line.
func Q(s string) string { return `"` + s + `"` }
