package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/pgp"
)

const good = `
data_dir = "/var/lib/aptsnap"
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080/"

[[archive]]
name = "debian"
url = "http://127.0.0.1:8088/debian/"
keyring = "/path/to/upstream-keyring.gpg"
suites = ["bookworm", "bookworm-updates"]
components = ["main"]
architectures = ["amd64"]
pulses_per_day = 4
valid_days = 10
`

func TestParse(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Archive("debian")
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "http://127.0.0.1:8080" || a.URL != "http://127.0.0.1:8088/debian" {
		t.Errorf("trailing slashes kept: %q %q", c.PublicURL, a.URL)
	}
	if a.PulseInterval() != 6*time.Hour || a.ValidDays != 10 {
		t.Errorf("interval %s, valid for %d days", a.PulseInterval(), a.ValidDays)
	}
	if c.SigningKeyPath() != "/var/lib/aptsnap/signing-key.asc" {
		t.Errorf("SigningKeyPath = %s", c.SigningKeyPath())
	}
	if _, err := c.Archive("nope"); err == nil {
		t.Error("Archive(nope) succeeded")
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("[[archive]]\nname = \"x\"\nurl = \"http://h/x\"\nkeyring = \"k\"\nsuites = [\"s\"]\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != DefaultDataDir || c.Listen != DefaultListen || c.PublicURL != "http://"+DefaultListen ||
		c.Archives[0].PulsesPerDay != DefaultPulsesPerDay || c.Archives[0].ValidDays != DefaultValidDays {
		t.Errorf("defaults not applied: %+v", c)
	}
}

// TestIndices: every index is mirrored unless the archive narrows it, and
// a suite may hold a slash (Debian's old "<codename>/updates").
func TestIndices(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Archives[0]
	if !a.Contents || !a.Installer || !a.DEP11 || !a.AllLanguages() || !a.Language("de") {
		t.Errorf("defaults: contents %v installer %v dep11 %v languages %q", a.Contents, a.Installer, a.DEP11, a.Languages)
	}
	text := strings.Replace(good, "valid_days = 10", "valid_days = 10\nlanguages = [\"en\"]\ncontents = false\ninstaller = false\ndep11 = false", 1)
	text = strings.Replace(text, `suites = ["bookworm", "bookworm-updates"]`, `suites = ["bookworm/updates"]`, 1)
	if c, err = Parse([]byte(text)); err != nil {
		t.Fatal(err)
	}
	a = c.Archives[0]
	if a.Contents || a.Installer || a.DEP11 || a.AllLanguages() || !a.Language("en") || a.Language("de") || a.Suites[0] != "bookworm/updates" {
		t.Errorf("narrowed: contents %v installer %v dep11 %v languages %q suites %q", a.Contents, a.Installer, a.DEP11, a.Languages, a.Suites)
	}
	if c, err = Parse([]byte(strings.Replace(good, "valid_days = 10", "valid_days = 10\nlanguages = []", 1))); err != nil {
		t.Fatal(err)
	}
	if a = c.Archives[0]; a.Language("en") {
		t.Errorf("languages = [] mirrors en: %q", a.Languages)
	}
}

func TestInvalid(t *testing.T) {
	for _, tt := range []struct{ name, edit, want string }{
		{"unknown top-level key", `listen = "127.0.0.1:8080"` + "\nlisten_port = 3", `line 4: unknown key "listen_port"`},
		{"unknown archive key", `valid_days = 10` + "\nvalid_dayz = 3", `line 15: unknown key "valid_dayz" in [archive] (did you mean valid_days?)`},
		{"misspelt archive key", `valid_days = 10` + "\npulse_per_day = 3", `line 15: unknown key "pulse_per_day" in [archive] (did you mean pulses_per_day?)`},
		{"bad name", `name = "debian"|name = "Debian!"`, "name must match"},
		{"reserved name", `name = "debian"|name = "keys"`, "reserved"},
		{"no url", `url = "http://127.0.0.1:8088/debian/"|url = ""`, "url is required"},
		{"bad scheme", `url = "http://127.0.0.1:8088/debian/"|url = "ftp://x/debian"`, "http, https"},
		{"no keyring", `keyring = "/path/to/upstream-keyring.gpg"|keyring = ""`, "keyring is required"},
		{"no suites", `suites = ["bookworm", "bookworm-updates"]|suites = []`, "suites is empty"},
		{"traversal suite", `suites = ["bookworm", "bookworm-updates"]|suites = ["../../etc"]`, "invalid name"},
		{"traversal after a slash", `suites = ["bookworm", "bookworm-updates"]|suites = ["bookworm/../../etc"]`, "invalid name"},
		{"empty segment", `suites = ["bookworm", "bookworm-updates"]|suites = ["bookworm//updates"]`, "invalid name"},
		{"trailing slash", `suites = ["bookworm", "bookworm-updates"]|suites = ["bookworm/updates/"]`, "invalid name"},
		{"dot segment", `suites = ["bookworm", "bookworm-updates"]|suites = ["./bookworm"]`, "invalid name"},
		{"backslash", `suites = ["bookworm", "bookworm-updates"]|suites = ["bookworm\\updates"]`, "invalid name"},
		{"traversal language", `valid_days = 10` + "\nlanguages = [\"../x\"]", "invalid name"},
		{"contents not a bool", `valid_days = 10` + "\ncontents = \"no\"", "contents"},
		{"valid_days", `valid_days = 10|valid_days = -1`, "valid_days"},
		{"pulses", `pulses_per_day = 4|pulses_per_day = 1000`, "pulses_per_day"},
		{"not toml", `data_dir = "/var/lib/aptsnap"|data_dir = `, "expected"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := good
			if from, to, ok := strings.Cut(tt.edit, "|"); ok {
				text = strings.Replace(good, from, to, 1)
			} else {
				text = strings.Replace(good, strings.SplitN(tt.edit, "\n", 2)[0], tt.edit, 1)
			}
			_, err := Parse([]byte(text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want %q", err, tt.want)
			}
		})
	}
	dup := good + "\n[[archive]]" + strings.SplitN(good, "[[archive]]", 2)[1]
	if _, err := Parse([]byte(dup)); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate archive: %v", err)
	}
}

// keyring writes a public key at dir/rel, for configurations Load checks.
func keyring(t *testing.T, dir, rel string) {
	t.Helper()
	priv, err := pgp.GenerateKey("Upstream", "up@example.org", pgp.AlgoEd25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgp.ParseSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, s.PublicKey(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKeyringsChecked: a missing or unusable keyring is an error when the
// configuration loads, once, naming the archive and the file.
func TestKeyringsChecked(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "aptsnap.toml")
	text := strings.Replace(good, `"/path/to/upstream-keyring.gpg"`, `"keys/up.gpg"`, 1)
	os.WriteFile(p, []byte(text), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), `archive "debian": keyring: open `+filepath.Join(dir, "keys/up.gpg")+": no such file or directory") {
		t.Errorf("a missing keyring: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
	os.WriteFile(filepath.Join(dir, "keys/up.gpg"), []byte("not a key"), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), `archive "debian": keyring: `) || strings.Count(err.Error(), "keyring") > 3 {
		t.Errorf("a keyring holding no key: %v", err)
	}
	keyring(t, dir, "keys/up.gpg")
	if _, err := Load(p); err != nil {
		t.Errorf("a good keyring: %v", err)
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	keyring(t, dir, "keys/up.gpg")
	p := filepath.Join(dir, "aptsnap.toml")
	text := strings.Replace(strings.Replace(good, `"/var/lib/aptsnap"`, `"data"`, 1), `"/path/to/upstream-keyring.gpg"`, `"keys/up.gpg"`, 1)
	os.WriteFile(p, []byte(text), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "data") || c.Archives[0].Keyring != filepath.Join(dir, "keys/up.gpg") {
		t.Errorf("relative paths: %s %s", c.DataDir, c.Archives[0].Keyring)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

// TestTLSConfig: the [tls] section with ACME (defaults, "staging"), with
// files (relative paths resolved), and every way it can be wrong,
// unknown keys included.
func TestTLSConfig(t *testing.T) {
	c, err := Parse([]byte(good + `
[tls]
[tls.acme]
email = "ops@example.org"
domains = ["snapshots.example.org"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.Listen != DefaultTLSListen || c.TLS.ACME.CA != LetsEncryptProduction {
		t.Errorf("defaults: listen %q, ca %q", c.TLS.Listen, c.TLS.ACME.CA)
	}
	if got := c.TLS.SANs(); len(got) != 1 || got[0] != "snapshots.example.org" {
		t.Errorf("SANs %v", got)
	}
	c, err = Parse([]byte(good + `
[tls]
listen = "[::1]:443"
[tls.acme]
email = "ops@example.org"
ca = "staging"
domains = ["a.example.org", "b.example.org"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.ACME.CA != LetsEncryptStaging || c.TLS.Listen != "[::1]:443" {
		t.Errorf("staging: %+v", c.TLS)
	}
	if c, err := Parse([]byte(good)); err != nil || c.TLS != nil {
		t.Errorf("no [tls]: %v %+v", err, c.TLS)
	}

	dir := t.TempDir()
	keyring(t, dir, "up.gpg")
	path := filepath.Join(dir, "aptsnap.toml")
	if err := os.WriteFile(path, []byte(strings.Replace(good, "/path/to/upstream-keyring.gpg", "up.gpg", 1)+`
[tls]
listen = "127.0.0.1:8443"
cert_file = "tls/cert.pem"
key_file = "/etc/aptsnap/key.pem"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.CertFile != filepath.Join(dir, "tls/cert.pem") || c.TLS.KeyFile != "/etc/aptsnap/key.pem" || c.TLS.ACME != nil {
		t.Errorf("files: %+v", c.TLS)
	}

	for _, tt := range []struct{ body, want string }{
		{"[tls]\n", "set cert_file and key_file, or [tls.acme]"},
		{"[tls]\ncert_file = \"c.pem\"\n", "go together"},
		{"[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n[tls.acme]\nemail = \"x@example.org\"\ndomains = [\"a.example.org\"]\n", "exclude each other"},
		{"[tls]\n[tls.acme]\nemail = \"x@example.org\"\n", "domains is empty"},
		{"[tls]\n[tls.acme]\nemail = \"x@example.org\"\ndomains = [\"*.example.org\"]\n", "invalid domain"},
		{"[tls]\n[tls.acme]\ndomains = [\"a.example.org\"]\n", "email is required"},
		{"[tls]\n[tls.acme]\nemail = \"x@example.org\"\ndomains = [\"a.example.org\"]\nca = \"http://ca.example.org/dir\"\n", "https directory URL"},
		{"[tls]\nlisten = \"8443\"\ncert_file = \"c\"\nkey_file = \"k\"\n", "tls.listen"},
		{"[tls]\n[tls.acme]\ndomains = [\"a.example.org\"]\nemial = \"x\"\n", `unknown key "emial" in [tls.acme] (did you mean email?)`},
		{"[tls]\ncert = \"c\"\n", `unknown key "cert" in [tls]`},
	} {
		_, err := Parse([]byte(good + tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.body, err, tt.want)
		}
	}
}

func TestCustom(t *testing.T) {
	c, err := Parse([]byte(good + "\n[[custom]]\nname = \"ours\"\nsuites = [\"stable\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cu, err := c.Custom("ours")
	if err != nil {
		t.Fatal(err)
	}
	if cu.Origin != "ours" || cu.Label != "ours" || cu.PublicURL != "http://127.0.0.1:8080" ||
		strings.Join(cu.Components, ",") != "main" || strings.Join(cu.Architectures, ",") != "amd64" ||
		cu.ValidDays != 10 || cu.PulseInterval() != 6*time.Hour || cu.MultipleVersions {
		t.Errorf("custom defaults: %+v", cu)
	}
	if got := strings.Join(c.Names(), ","); got != "debian,ours" {
		t.Errorf("Names() = %s", got)
	}
	if _, err := c.Custom("debian"); err == nil {
		t.Error("Custom(debian) found a mirrored archive")
	}
	for _, tt := range []struct{ name, custom, want string }{
		{"same name as a mirror", "name = \"debian\"\nsuites = [\"s\"]", "duplicate archive name"},
		{"reserved", "name = \"tagged\"\nsuites = [\"s\"]", "reserved"},
		{"no suites", "name = \"ours\"", "suites is empty"},
		{"traversal", "name = \"ours\"\nsuites = [\"../x\"]", "invalid name"},
		{"relative public_url", "name = \"ours\"\nsuites = [\"s\"]\npublic_url = \"ours.example\"", "public_url"},
		{"unknown key", "name = \"ours\"\nsuites = [\"s\"]\nmulti = true", `line 19: unknown key "multi" in [custom]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(good + "\n[[custom]]\n" + tt.custom + "\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDownloads(t *testing.T) {
	c, err := Parse([]byte("[downloads]\nconnect_timeout = \"5s\"\nstall_timeout = \"1m\"\nmin_rate_kib = 16\npulse_timeout = \"3h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Downloads; d.Connect != 5*time.Second || d.Stall != time.Minute || d.MinRateKiB != 16 || d.Pulse != 3*time.Hour {
		t.Errorf("downloads %+v", d)
	}
	if c, err := Parse(nil); err != nil || c.Downloads.Stall != 0 {
		t.Errorf("no [downloads]: %+v, %v (zero: the defaults)", c.Downloads, err)
	}
	for _, bad := range []string{`stall_timeout = "soon"`, `pulse_timeout = "-1h"`, `min_rate_kib = -2`, `retries = 3`} {
		if _, err := Parse([]byte("[downloads]\n" + bad + "\n")); err == nil {
			t.Errorf("[downloads] %s accepted", bad)
		}
	}
}

// TestZeroIsNotUnset: pulses_per_day = 0 means never on schedule (as
// gc_every = "0"), not the default; valid_days = 0 is refused, not the
// default; file URLs are refused (every pulse of one failed).
func TestZeroIsNotUnset(t *testing.T) {
	base := "[[archive]]\nname = \"debian\"\nurl = \"http://deb.debian.org/debian\"\nkeyring = \"k.gpg\"\nsuites = [\"bookworm\"]\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\n"
	c, err := Parse([]byte(base + "pulses_per_day = 0\n[[custom]]\nname = \"ours\"\nsuites = [\"stable\"]\npulses_per_day = 0\n[[custom]]\nname = \"more\"\nsuites = [\"stable\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Archives[0].PulseInterval() != 0 || c.Customs[0].PulseInterval() != 0 || c.Customs[1].PulsesPerDay != DefaultPulsesPerDay {
		t.Errorf("pulses_per_day = 0: intervals %s %s, default for the other custom %d", c.Archives[0].PulseInterval(),
			c.Customs[0].PulseInterval(), c.Customs[1].PulsesPerDay)
	}
	for _, bad := range []string{base + "valid_days = 0\n", strings.Replace(base, "http://deb.debian.org/debian", "file:///srv/mirror", 1)} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}

// TestBackends: [catalog] and [store] take no secret, and what they need.
func TestBackends(t *testing.T) {
	base := "data_dir = \"/tmp/x\"\n"
	for _, tt := range []struct{ name, text, want string }{
		{"postgres url", "[catalog]\npostgres = \"postgres://aptsnap@db/aptsnap?sslmode=require\"\n", ""},
		{"postgres keywords", "[catalog]\npostgres = \"host=db dbname=aptsnap user=aptsnap\"\n", ""},
		{"postgres url password", "[catalog]\npostgres = \"postgres://aptsnap:hunter2@db/aptsnap\"\n", "holds a password"},
		{"postgres query password", "[catalog]\npostgres = \"postgres://aptsnap@db/aptsnap?password=hunter2\"\n", "holds a password"},
		{"postgres keyword password", "[catalog]\npostgres = \"host=db password=hunter2\"\n", "holds a password"},
		{"postgres nonsense", "[catalog]\npostgres = \"db\"\n", "want postgres://"},
		{"s3", "[store]\ns3_endpoint = \"127.0.0.1:7070\"\ns3_bucket = \"b\"\ns3_prefix = \"aptsnap\"\nredirect = true\n", ""},
		{"s3 url", "[store]\ns3_endpoint = \"https://s3.example.org\"\ns3_bucket = \"b\"\n", ""},
		{"s3 no bucket", "[store]\ns3_endpoint = \"127.0.0.1:7070\"\n", "s3_bucket is missing"},
		{"s3 creds in endpoint", "[store]\ns3_endpoint = \"http://key:secret@s3.example.org\"\ns3_bucket = \"b\"\n", "holds credentials"},
		{"s3 settings without endpoint", "[store]\ns3_bucket = \"b\"\n", "s3_endpoint is missing"},
		{"s3 secret key in toml", "[store]\ns3_endpoint = \"127.0.0.1:7070\"\ns3_bucket = \"b\"\ns3_secret_key = \"x\"\n", "unknown key"},
	} {
		_, err := Parse([]byte(base + tt.text))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tt.name, err)
		}
	}
}

// TestTLSInstall: a virtual host's names in one entry, name as their
// first; default files and test command; names shared between entries,
// missing reload and bad names refused.
func TestTLSInstall(t *testing.T) {
	acme := "[tls]\n[tls.acme]\nemail = \"x@example.org\"\n"
	c, err := Parse([]byte(good + acme + `
[[tls.install]]
server = "nginx"
names = ["a.example.org", "www.a.example.org"]
reload = "systemctl reload nginx"

[[tls.install]]
server = "apache2"
name = "b.example.org"
reload = "systemctl reload apache2"
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.TLS.Install[0], c.TLS.Install[1]
	if a.Name != "a.example.org" || len(a.Names) != 2 || a.CertPath != "/etc/aptsnap/tls/a.example.org/fullchain.pem" || a.Test != "nginx -t" {
		t.Errorf("first entry %+v", a)
	}
	if b.Name != "b.example.org" || len(b.Names) != 1 || b.Names[0] != b.Name || b.Test != "apachectl configtest" {
		t.Errorf("second entry %+v", b)
	}
	if c.TLS.Listener() {
		t.Error("[[tls.install]] alone opens a listener")
	}
	entry := func(s string) string { return "\n[[tls.install]]\nserver = \"nginx\"\nreload = \"r\"\n" + s + "\n" }
	for _, tt := range []struct{ body, want string }{
		{entry(`name = "a.example.org"`) + entry(`names = ["b.example.org", "a.example.org"]`), "a.example.org is installed by another"},
		{entry(`names = ["a.example.org", "a.example.org"]`), "named twice"},
		{entry(`name = "b.example.org"` + "\n" + `names = ["a.example.org", "b.example.org"]`), "must be the first"},
		{entry(`names = ["*.example.org"]`), "invalid name"},
		{entry(""), "names"},
		{"\n[[tls.install]]\nserver = \"nginx\"\nname = \"a.example.org\"\n", "reload is required"},
		{"\n[[tls.install]]\nserver = \"caddy\"\nname = \"a.example.org\"\nreload = \"r\"\n", `server must be "nginx" or "apache2"`},
	} {
		_, err := Parse([]byte(good + acme + tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.body, err, tt.want)
		}
	}
}
