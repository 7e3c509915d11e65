// Package config reads aptsnap's TOML configuration file.
//
// One file describes the server (data directory, listen address, public URL,
// signing key) and the archives it mirrors. Unknown keys are an error, so a
// typo never silently changes behaviour.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/names"
	"github.com/aptsnap/aptsnap/pgp"
)

// Config is the whole configuration file.
type Config struct {
	// DataDir holds the catalog, the file store and the generated signing key.
	DataDir string `toml:"data_dir"`
	// Listen is the address the HTTP server listens on.
	Listen string `toml:"listen"`
	// PublicURL is how clients reach the server; it goes into the Snapshots:
	// field of served Release files and into printed source lines.
	PublicURL string `toml:"public_url"`
	// SigningKey is an armored OpenPGP private key; generated in DataDir when empty.
	SigningKey string `toml:"signing_key"`
	// Parallel is how many pool files a pulse downloads at once.
	Parallel int `toml:"parallel_downloads"`
	// MaxIndexMiB bounds the uncompressed size of an index whose Release
	// lists none for it (and refuses one listed larger): a decompression
	// bomb stops there.
	MaxIndexMiB int `toml:"max_index_mib"`
	// GCEvery is how often `aptsnap serve` collects garbage, as a Go
	// duration ("6h"); "0" turns scheduled GC off.
	GCEvery string `toml:"gc_every"`
	// GCInterval is GCEvery parsed.
	GCInterval time.Duration `toml:"-"`
	// Archives are the upstream repositories mirrored.
	Archives []Archive `toml:"archive"`
	// Customs are the archives we own and fill by importing packages.
	Customs []Custom `toml:"custom"`
	// TLS, when set, adds an HTTPS listener; plain HTTP stays on Listen.
	TLS *TLS `toml:"tls"`
	// Downloads bound what a slow upstream takes of a pulse.
	Downloads Downloads `toml:"downloads"`
	// Catalog and Store choose where the metadata and the files are kept:
	// absent, SQLite and a directory in DataDir.
	Catalog CatalogConfig `toml:"catalog"`
	Store   StoreConfig   `toml:"store"`
	// Export, with Dir set, has `aptsnap serve` keep an export directory
	// (see package export) in step with the catalog.
	Export ExportConfig `toml:"export"`
}

// ExportConfig is the [export] section.
type ExportConfig struct {
	// Dir is the export directory a web server serves the snapshots from.
	Dir string `toml:"dir"`
}

// CatalogConfig is the [catalog] section.
type CatalogConfig struct {
	// Postgres is a PostgreSQL connection string ("postgres://user@host/db"
	// or "host=... dbname=..."). Its password never goes here: PGPASSWORD
	// or a pgpass file (PGPASSFILE, passfile=) holds it.
	Postgres string `toml:"postgres"`
}

// StoreConfig is the [store] section: S3-compatible object storage.
// Credentials never go here: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// in the environment, or CredentialsFile.
type StoreConfig struct {
	// S3Endpoint is "host:port" or an http(s) URL; S3Bucket is required
	// with it.
	S3Endpoint string `toml:"s3_endpoint"`
	S3Bucket   string `toml:"s3_bucket"`
	S3Region   string `toml:"s3_region"`
	// S3Prefix is where aptsnap's keys start in the bucket (optional).
	S3Prefix string `toml:"s3_prefix"`
	// CredentialsFile holds AWS_ACCESS_KEY_ID=... and
	// AWS_SECRET_ACCESS_KEY=... lines (mode 0600 or stricter).
	CredentialsFile string `toml:"credentials_file"`
	// Redirect answers file requests with a redirect to a presigned URL
	// instead of streaming them through the server.
	Redirect bool `toml:"redirect"`
}

// S3 reports whether the store is S3 rather than the data directory.
func (s StoreConfig) S3() bool { return s.S3Endpoint != "" }

// Downloads is the [downloads] section: timeouts of pulses, as Go
// durations ("30s", "2m", "12h"). Empty keys take the defaults, sized for
// a first mirror of all of Debian over an ordinary link.
type Downloads struct {
	// ConnectTimeout bounds establishing a connection (default 30s).
	ConnectTimeout string `toml:"connect_timeout"`
	// StallTimeout is how long a download may wait for its response or
	// its next byte, and the window MinRateKiB is averaged over (2m).
	StallTimeout string `toml:"stall_timeout"`
	// MinRateKiB is the least a download must average over StallTimeout,
	// in KiB/s (4).
	MinRateKiB int `toml:"min_rate_kib"`
	// PulseTimeout bounds a whole pulse (12h).
	PulseTimeout string `toml:"pulse_timeout"`

	// Connect, Stall and Pulse are the durations parsed (zero: default).
	Connect, Stall, Pulse time.Duration `toml:"-"`
}

// TLS is the [tls] section: an HTTPS listener with a certificate taken
// from files (CertFile, KeyFile) or obtained and renewed through ACME.
type TLS struct {
	// Listen is the address of the HTTPS listener.
	Listen string `toml:"listen"`
	// CertFile and KeyFile are a PEM certificate chain and its key; the
	// alternative to ACME.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ACME obtains certificates from an ACME CA (HTTP-01 on the plain
	// listener, TLS-ALPN-01 on the HTTPS one).
	ACME *ACME `toml:"acme"`
	// Install are the [[tls.install]] sections: certificates obtained
	// through [tls.acme]'s CA for a web server (nginx, Apache) in front
	// of aptsnap, written to its files and followed by its reload.
	Install []Install `toml:"install"`
}

// Install is one [[tls.install]] section: a virtual host of a web server
// whose certificate aptsnap obtains, renews, installs and reloads.
type Install struct {
	// Server is "nginx" or "apache2".
	Server string `toml:"server"`
	// Names are the virtual host's names (server_name, ServerName and
	// ServerAlias), all in one certificate; Name is the first (the one
	// given alone as name = "..."), which names the entry and its default
	// files.
	Name  string   `toml:"name"`
	Names []string `toml:"names"`
	// CertPath and KeyPath are where the chain (fullchain) and the key are
	// written (default /etc/aptsnap/tls/NAME/fullchain.pem, privkey.pem).
	CertPath string `toml:"cert_path"`
	KeyPath  string `toml:"key_path"`
	// Reload is run (sh -c) after the files are written and Test passed.
	Reload string `toml:"reload"`
	// Test checks the web server's configuration before the reload
	// (default "nginx -t" or "apachectl configtest").
	Test string `toml:"test"`
}

// Listener reports whether [tls] gives aptsnap an HTTPS listener of its
// own (certificate files, or [tls.acme] domains); [[tls.install]] alone
// does not.
func (t *TLS) Listener() bool {
	return t != nil && (t.CertFile != "" || t.KeyFile != "" || t.ACME != nil && len(t.ACME.Domains) > 0)
}

// ACME is the [tls.acme] section.
type ACME struct {
	// Email is the ACME account's contact address (required).
	Email string `toml:"email"`
	// CA is the directory URL; "staging" selects Let's Encrypt's staging
	// CA. Default: Let's Encrypt's production CA.
	CA string `toml:"ca"`
	// Domains are the names certificates are obtained for.
	Domains []string `toml:"domains"`
	// CARoot is a PEM file of roots to trust when talking to the CA (a
	// private ACME CA such as Pebble).
	CARoot string `toml:"ca_root"`
}

// ACME directory URLs.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// DefaultTLSListen is the HTTPS listener's default address.
const DefaultTLSListen = "127.0.0.1:8443"

// Archive is one upstream APT repository mirrored into time-based snapshots.
type Archive struct {
	Name          string   `toml:"name"`
	URL           string   `toml:"url"`
	Keyring       string   `toml:"keyring"`
	Suites        []string `toml:"suites"`
	Components    []string `toml:"components"`
	Architectures []string `toml:"architectures"`
	// Sources also mirrors <component>/source/Sources and the source packages.
	Sources bool `toml:"sources"`
	// Languages are the translations mirrored (<component>/i18n/Translation-<lang>):
	// "*" (the default) for every language upstream lists, none for an
	// empty list.
	Languages []string `toml:"languages"`
	// Contents mirrors the Contents-<arch> indices apt-file reads (default true).
	Contents bool `toml:"contents"`
	// Installer mirrors debian-installer/binary-<arch>/Packages and its
	// udebs (default true).
	Installer bool `toml:"installer"`
	// DEP11 mirrors the AppStream metadata and icons software centres read
	// (<component>/dep11/, default true).
	DEP11 bool `toml:"dep11"`
	// PulsesPerDay is how many times a day `aptsnap serve` pulses this archive.
	PulsesPerDay int `toml:"pulses_per_day"`
	// ValidDays is how long a new snapshot's Release stays valid.
	ValidDays int `toml:"valid_days"`
}

// Custom is one archive of our own ([[custom]]), filled by `aptsnap repo
// add` and freeze exceptions, served and snapshotted like a mirrored one:
// every change makes a new snapshot, and the newest snapshot is re-signed
// into a fresh one pulses_per_day times a day so that it never expires.
type Custom struct {
	Name          string   `toml:"name"`
	Suites        []string `toml:"suites"`
	Components    []string `toml:"components"`
	Architectures []string `toml:"architectures"`
	// Origin and Label go into the Release files (default: the name).
	Origin string `toml:"origin"`
	Label  string `toml:"label"`
	// Keyring, when set, is the keyring .changes uploads must be signed with.
	Keyring string `toml:"keyring"`
	// PublicURL is how clients reach this archive when it differs from the
	// server's public_url (another host name, so that APT can pin it by origin).
	PublicURL string `toml:"public_url"`
	// MultipleVersions keeps every version imported instead of one version
	// per package and architecture in a suite.
	MultipleVersions bool `toml:"multiple_versions"`
	PulsesPerDay     int  `toml:"pulses_per_day"`
	ValidDays        int  `toml:"valid_days"`

	// Series are the suites S whose S-proposed and S-updates pockets take
	// packages only through stable update requests (see package stable).
	// When empty, every suite S listed with S-proposed and S-updates is
	// one.
	Series []string `toml:"series"`
	// MinDaysProposed is how long a request's uploads stay in S-proposed
	// before they may be released (DefaultMinDaysProposed).
	MinDaysProposed int `toml:"min_days_proposed"`
	// PhaseStart is the Phased-Update-Percentage a release starts at
	// (DefaultPhaseStart; 100: not phased), raised by PhaseStep every
	// PhaseEvery (a Go duration) until 100.
	PhaseStart int    `toml:"phase_start"`
	PhaseStep  int    `toml:"phase_step"`
	PhaseEvery string `toml:"phase_every"`
}

// Pockets of a series S: the suites S-proposed and S-updates.
const (
	Proposed = "-proposed"
	Updates  = "-updates"
)

// SeriesOf returns the series a suite is a pocket of (S for S-proposed
// and S-updates, and for S itself) and the pocket ("", Proposed or
// Updates); ok is false when the suite is in no series.
func (cu *Custom) SeriesOf(suite string) (series, pocket string, ok bool) {
	for _, s := range cu.AllSeries() {
		switch suite {
		case s:
			return s, "", true
		case s + Proposed:
			return s, Proposed, true
		case s + Updates:
			return s, Updates, true
		}
	}
	return "", "", false
}

// AllSeries lists the archive's series: Series, or the suites listed
// with both their pockets.
func (cu *Custom) AllSeries() []string {
	if len(cu.Series) > 0 {
		return cu.Series
	}
	var out []string
	for _, s := range cu.Suites {
		if slices.Contains(cu.Suites, s+Proposed) && slices.Contains(cu.Suites, s+Updates) {
			out = append(out, s)
		}
	}
	return out
}

// PhaseInterval is PhaseEvery parsed (checked when the configuration loads).
func (cu *Custom) PhaseInterval() time.Duration {
	d, _ := time.ParseDuration(cu.PhaseEvery)
	return d
}

// Defaults applied to fields left empty.
const (
	DefaultDataDir      = "/var/lib/aptsnap"
	DefaultListen       = "127.0.0.1:8080"
	DefaultPulsesPerDay = 4
	DefaultValidDays    = 10
	DefaultParallel     = 8
	DefaultMaxIndexMiB  = 256
	DefaultGCEvery      = "6h"
	// Stable updates: a week in -proposed; phased from 10 %, +10 every
	// six hours (as Ubuntu phases its stable updates).
	DefaultMinDaysProposed = 7
	DefaultPhaseStart      = 10
	DefaultPhaseStep       = 10
	DefaultPhaseEvery      = "6h"
)

// Load reads and validates the file at path. Relative paths inside it are
// resolved against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.resolve(filepath.Dir(path))
	if err := c.checkKeyrings(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// checkKeyrings reads every keyring the configuration names: a missing
// or unreadable one is said when the configuration loads, not at the
// first pulse.
func (c *Config) checkKeyrings() error {
	for _, a := range c.Archives {
		if _, err := pgp.LoadKeyring(a.Keyring); err != nil {
			return fmt.Errorf("archive %q: keyring: %w (the upstream's signing keys: fix the path, or fetch the key)", a.Name, err)
		}
	}
	for _, cu := range c.Customs {
		if cu.Keyring == "" {
			continue
		}
		if _, err := pgp.LoadKeyring(cu.Keyring); err != nil {
			return fmt.Errorf("custom %q: keyring: %w (the uploaders' keys: fix the path)", cu.Name, err)
		}
	}
	return nil
}

// Parse decodes and validates a configuration held in memory.
func Parse(data []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, unknownKeys(data, und)
	}
	c.applyDefaults(setPerElement(md, "archive"), setPerElement(md, "custom"))
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// setPerElement lists, for each element of an array of tables, the keys
// the file sets in it: a key set to 0 is not a key left out.
func setPerElement(md toml.MetaData, table string) []map[string]bool {
	var out []map[string]bool
	for _, k := range md.Keys() {
		switch {
		case len(k) == 1 && k[0] == table:
			out = append(out, map[string]bool{})
		case len(k) == 2 && k[0] == table && len(out) > 0:
			out[len(out)-1][k[1]] = true
		}
	}
	return out
}

// applyDefaults fills what the file leaves out; archives and customs say
// which keys the file sets in each [[archive]] and [[custom]] (nil: none).
func (c *Config) applyDefaults(archives, customs []map[string]bool) {
	set := func(list []map[string]bool, i int, key string) bool { return i < len(list) && list[i][key] }
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	if c.MaxIndexMiB <= 0 {
		c.MaxIndexMiB = DefaultMaxIndexMiB
	}
	if c.GCEvery == "" {
		c.GCEvery = DefaultGCEvery
	}
	if t := c.TLS; t != nil {
		if t.Listen == "" {
			t.Listen = DefaultTLSListen
		}
		if a := t.ACME; a != nil {
			switch a.CA {
			case "", "production":
				a.CA = LetsEncryptProduction
			case "staging":
				a.CA = LetsEncryptStaging
			}
		}
		for i := range t.Install {
			in := &t.Install[i]
			if len(in.Names) == 0 && in.Name != "" {
				in.Names = []string{in.Name}
			}
			if in.Name == "" && len(in.Names) > 0 {
				in.Name = in.Names[0]
			}
			if in.CertPath == "" && in.Name != "" {
				in.CertPath = "/etc/aptsnap/tls/" + in.Name + "/fullchain.pem"
			}
			if in.KeyPath == "" && in.Name != "" {
				in.KeyPath = "/etc/aptsnap/tls/" + in.Name + "/privkey.pem"
			}
			if in.Test == "" {
				switch in.Server {
				case "nginx":
					in.Test = "nginx -t"
				case "apache2":
					in.Test = "apachectl configtest"
				}
			}
		}
	}
	for i := range c.Customs {
		cu := &c.Customs[i]
		if len(cu.Components) == 0 {
			cu.Components = []string{"main"}
		}
		if len(cu.Architectures) == 0 {
			cu.Architectures = []string{"amd64"}
		}
		if cu.Origin == "" {
			cu.Origin = cu.Name
		}
		if cu.Label == "" {
			cu.Label = cu.Origin
		}
		if cu.PublicURL == "" {
			cu.PublicURL = c.PublicURL
		}
		cu.PublicURL = strings.TrimRight(cu.PublicURL, "/")
		if !set(customs, i, "pulses_per_day") {
			cu.PulsesPerDay = DefaultPulsesPerDay
		}
		if !set(customs, i, "valid_days") {
			cu.ValidDays = DefaultValidDays
		}
		if !set(customs, i, "min_days_proposed") {
			cu.MinDaysProposed = DefaultMinDaysProposed
		}
		if !set(customs, i, "phase_start") {
			cu.PhaseStart = DefaultPhaseStart
		}
		if !set(customs, i, "phase_step") {
			cu.PhaseStep = DefaultPhaseStep
		}
		if cu.PhaseEvery == "" {
			cu.PhaseEvery = DefaultPhaseEvery
		}
	}
	for i := range c.Archives {
		a := &c.Archives[i]
		a.URL = strings.TrimRight(a.URL, "/")
		if !set(archives, i, "pulses_per_day") {
			a.PulsesPerDay = DefaultPulsesPerDay
		}
		if !set(archives, i, "valid_days") {
			a.ValidDays = DefaultValidDays
		}
		if !set(archives, i, "languages") {
			a.Languages = []string{"*"}
		}
		for _, k := range []struct {
			key string
			v   *bool
		}{{"contents", &a.Contents}, {"installer", &a.Installer}, {"dep11", &a.DEP11}} {
			if !set(archives, i, k.key) {
				*k.v = true
			}
		}
	}
}

// Language reports whether the archive mirrors the translation into lang.
func (a *Archive) Language(lang string) bool {
	return slices.Contains(a.Languages, "*") || slices.Contains(a.Languages, lang)
}

// AllLanguages reports whether the archive mirrors every translation.
func (a *Archive) AllLanguages() bool { return slices.Contains(a.Languages, "*") }

func (c *Config) resolve(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.DataDir = abs(c.DataDir)
	c.SigningKey = abs(c.SigningKey)
	c.Store.CredentialsFile = abs(c.Store.CredentialsFile)
	c.Export.Dir = abs(c.Export.Dir)
	for i := range c.Archives {
		c.Archives[i].Keyring = abs(c.Archives[i].Keyring)
	}
	for i := range c.Customs {
		c.Customs[i].Keyring = abs(c.Customs[i].Keyring)
	}
	if t := c.TLS; t != nil {
		t.CertFile, t.KeyFile = abs(t.CertFile), abs(t.KeyFile)
		if t.ACME != nil {
			t.ACME.CARoot = abs(t.ACME.CARoot)
		}
		for i := range t.Install {
			t.Install[i].CertPath, t.Install[i].KeyPath = abs(t.Install[i].CertPath), abs(t.Install[i].KeyPath)
		}
	}
}

// Validate reports the first problem in c.
func (c *Config) Validate() error {
	if _, err := url.Parse(c.PublicURL); err != nil {
		return fmt.Errorf("public_url: %w", err)
	}
	d, err := time.ParseDuration(c.GCEvery)
	if err != nil || d < 0 {
		return fmt.Errorf("gc_every: want a duration such as \"6h\" (or \"0\" for never), not %q", c.GCEvery)
	}
	c.GCInterval = d
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if err := c.Catalog.validate(); err != nil {
		return err
	}
	if err := c.Store.validate(); err != nil {
		return err
	}
	if err := c.Downloads.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, a := range c.Archives {
		where := fmt.Sprintf("archive[%d] %q", i, a.Name)
		switch {
		case !names.Archive(a.Name):
			return fmt.Errorf("%s: name must match %s", where, names.ArchivePattern)
		case names.Reserved(a.Name):
			return fmt.Errorf("%s: name is reserved", where)
		case seen[a.Name]:
			return fmt.Errorf("%s: duplicate archive name", where)
		case a.URL == "":
			return fmt.Errorf("%s: url is required", where)
		case a.Keyring == "":
			return fmt.Errorf("%s: keyring is required", where)
		case len(a.Suites) == 0:
			return fmt.Errorf("%s: suites is empty", where)
		case len(a.Components) == 0:
			return fmt.Errorf("%s: components is empty", where)
		case len(a.Architectures) == 0:
			return fmt.Errorf("%s: architectures is empty", where)
		case a.PulsesPerDay < 0 || a.PulsesPerDay > 96:
			return fmt.Errorf("%s: pulses_per_day must be between 0 and 96", where)
		case a.ValidDays < 1:
			return fmt.Errorf("%s: valid_days must be at least 1", where)
		}
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: url must be http, https with a host (file: serve the tree with any web server): %q", where, a.URL)
		}
		if err := checkNames(where, a.Suites, a.Components, a.Architectures, a.Languages); err != nil {
			return err
		}
		seen[a.Name] = true
	}
	for i, cu := range c.Customs {
		where := fmt.Sprintf("custom[%d] %q", i, cu.Name)
		switch {
		case !names.Archive(cu.Name):
			return fmt.Errorf("%s: name must match %s", where, names.ArchivePattern)
		case names.Reserved(cu.Name):
			return fmt.Errorf("%s: name is reserved", where)
		case seen[cu.Name]:
			return fmt.Errorf("%s: duplicate archive name", where)
		case len(cu.Suites) == 0:
			return fmt.Errorf("%s: suites is empty", where)
		case cu.PulsesPerDay < 0 || cu.PulsesPerDay > 96:
			return fmt.Errorf("%s: pulses_per_day must be between 0 and 96", where)
		case cu.ValidDays < 1:
			return fmt.Errorf("%s: valid_days must be at least 1", where)
		case cu.MinDaysProposed < 0:
			return fmt.Errorf("%s: min_days_proposed must be 0 or more", where)
		case cu.PhaseStart < 0 || cu.PhaseStart > 100:
			return fmt.Errorf("%s: phase_start must be between 0 and 100 (100: not phased)", where)
		case cu.PhaseStep < 1 || cu.PhaseStep > 100:
			return fmt.Errorf("%s: phase_step must be between 1 and 100", where)
		}
		if d, err := time.ParseDuration(cu.PhaseEvery); err != nil || d < time.Minute {
			return fmt.Errorf("%s: phase_every must be a duration of a minute or more, such as \"6h\": %q", where, cu.PhaseEvery)
		}
		for _, s := range cu.Series {
			if !slices.Contains(cu.Suites, s) || !slices.Contains(cu.Suites, s+Proposed) || !slices.Contains(cu.Suites, s+Updates) {
				return fmt.Errorf("%s: series %q needs the suites %s, %s%s and %s%s in suites", where, s, s, s, Proposed, s, Updates)
			}
		}
		if u, err := url.Parse(cu.PublicURL); err != nil || u.Host == "" {
			return fmt.Errorf("%s: public_url must be an absolute URL: %q", where, cu.PublicURL)
		}
		if err := checkNames(where, cu.Suites, cu.Components, cu.Architectures); err != nil {
			return err
		}
		seen[cu.Name] = true
	}
	return nil
}

// checkNames refuses suite, component, architecture and language names
// that are empty, hold white space or could leave the archive's
// directory. A name may hold slashes (Debian's old security suites are
// "<codename>/updates"), but no empty, "." or ".." segment.
func checkNames(where string, lists ...[]string) error {
	for _, list := range lists {
		for _, s := range list {
			bad := s == "" || strings.ContainsAny(s, " \t\n\r\\")
			for seg := range strings.SplitSeq(s, "/") {
				bad = bad || seg == "" || seg == "." || seg == ".."
			}
			if bad {
				return fmt.Errorf("%s: invalid name %q: no white space, backslash, empty, \".\" or \"..\" path segment", where, s)
			}
		}
	}
	return nil
}

// Custom returns the custom archive named name.
func (c *Config) Custom(name string) (*Custom, error) {
	for i := range c.Customs {
		if c.Customs[i].Name == name {
			return &c.Customs[i], nil
		}
	}
	return nil, fmt.Errorf("config: no custom archive named %q", name)
}

// Names lists every archive served: mirrored ones, then custom ones.
func (c *Config) Names() []string {
	var out []string
	for _, a := range c.Archives {
		out = append(out, a.Name)
	}
	for _, cu := range c.Customs {
		out = append(out, cu.Name)
	}
	return out
}

// PulseInterval is the time between two scheduled re-snapshots of cu.
func (cu *Custom) PulseInterval() time.Duration { return interval(cu.PulsesPerDay) }

// Archive returns the archive named name.
func (c *Config) Archive(name string) (*Archive, error) {
	for i := range c.Archives {
		if c.Archives[i].Name == name {
			return &c.Archives[i], nil
		}
	}
	return nil, fmt.Errorf("no archive %q in the configuration (archives: %s)", name, strings.Join(c.Names(), ", "))
}

// ErrNoArchives is returned by callers that need at least one archive.
var ErrNoArchives = errors.New("config: no [[archive]] configured")

// PulseInterval is the time between two scheduled pulses of a.
func (a *Archive) PulseInterval() time.Duration { return interval(a.PulsesPerDay) }

// interval is the time between n evenly spread events a day (0 if none).
func interval(perDay int) time.Duration {
	if perDay <= 0 {
		return 0
	}
	return 24 * time.Hour / time.Duration(perDay)
}

// MaxIndexSize is MaxIndexMiB in bytes.
func (c *Config) MaxIndexSize() int64 { return int64(c.MaxIndexMiB) << 20 }

// SigningKeyPath is where the signing key is read from (or generated into).
func (c *Config) SigningKeyPath() string {
	if c.SigningKey != "" {
		return c.SigningKey
	}
	return datadir.Dir(c.DataDir).SigningKey()
}

func (t *TLS) validate() error {
	if t == nil {
		return nil
	}
	if _, _, err := net.SplitHostPort(t.Listen); err != nil {
		return fmt.Errorf("tls.listen: %w", err)
	}
	files := t.CertFile != "" || t.KeyFile != ""
	switch {
	case files && (t.CertFile == "" || t.KeyFile == ""):
		return errors.New("tls: cert_file and key_file go together")
	case files && t.ACME != nil:
		return errors.New("tls: cert_file/key_file and [tls.acme] exclude each other")
	case !files && t.ACME == nil && len(t.Install) > 0:
		return errors.New("tls.install: certificates for a web server come from [tls.acme] (its email and ca)")
	case !files && t.ACME == nil:
		return errors.New("tls: set cert_file and key_file, or [tls.acme]")
	}
	if err := t.validateInstall(); err != nil {
		return err
	}
	if a := t.ACME; a != nil {
		if len(a.Domains) == 0 && len(t.Install) == 0 {
			return errors.New("tls.acme: domains is empty")
		}
		if !strings.Contains(a.Email, "@") {
			// The CA's contact for this account (certmagic would
			// otherwise prompt for one on a terminal).
			return errors.New("tls.acme: email is required")
		}
		for _, d := range a.Domains {
			if d == "" || strings.ContainsAny(d, " \t\n/:*") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
				return fmt.Errorf("tls.acme: invalid domain %q", d)
			}
		}
		u, err := url.Parse(a.CA)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("tls.acme: ca must be an https directory URL or \"staging\", not %q", a.CA)
		}
	}
	return nil
}

func (t *TLS) validateInstall() error {
	seen := map[string]bool{}
	for i, in := range t.Install {
		where := fmt.Sprintf("tls.install[%d]", i)
		if in.Server != "nginx" && in.Server != "apache2" {
			return fmt.Errorf("%s: server must be \"nginx\" or \"apache2\", not %q", where, in.Server)
		}
		if len(in.Names) == 0 || in.Name != in.Names[0] {
			return fmt.Errorf("%s: give the virtual host's names as names = [...] (or one as name); name, when given with names, must be the first", where)
		}
		for _, d := range in.Names {
			if d == "" || strings.ContainsAny(d, " \t\n/:*") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
				return fmt.Errorf("%s: invalid name %q", where, d)
			}
			if seen["name "+d] {
				return fmt.Errorf("%s: %s is installed by another [[tls.install]] (or named twice)", where, d)
			}
			seen["name "+d] = true
		}
		if in.Reload == "" {
			return fmt.Errorf("%s: reload is required (the command that makes %s read the new certificate)", where, in.Server)
		}
		if in.CertPath == in.KeyPath {
			return fmt.Errorf("%s: cert_path and key_path are the same file", where)
		}
		for _, p := range []string{in.CertPath, in.KeyPath} {
			if seen[p] {
				return fmt.Errorf("%s: %s is written by another [[tls.install]]", where, p)
			}
			seen[p] = true
		}
	}
	return nil
}

func (d *Downloads) validate() error {
	for _, f := range []struct {
		key string
		in  string
		out *time.Duration
	}{{"connect_timeout", d.ConnectTimeout, &d.Connect}, {"stall_timeout", d.StallTimeout, &d.Stall}, {"pulse_timeout", d.PulseTimeout, &d.Pulse}} {
		if f.in == "" {
			continue
		}
		v, err := time.ParseDuration(f.in)
		if err != nil || v <= 0 {
			return fmt.Errorf("downloads.%s: want a positive duration such as \"2m\", not %q", f.key, f.in)
		}
		*f.out = v
	}
	if d.MinRateKiB < 0 {
		return fmt.Errorf("downloads.min_rate_kib: want a number of KiB/s, not %d", d.MinRateKiB)
	}
	return nil
}

// SANs are the names the HTTPS listener has certificates for (ACME only).
func (t *TLS) SANs() []string {
	if t == nil || t.ACME == nil {
		return nil
	}
	return t.ACME.Domains
}

// validate refuses a connection string holding a password: a
// configuration file is read by many, and logged and shown by mistake.
func (c CatalogConfig) validate() error {
	if c.Postgres == "" {
		return nil
	}
	if u, err := url.Parse(c.Postgres); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if _, set := u.User.Password(); set || u.Query().Has("password") {
			return errors.New("[catalog] postgres: the connection string holds a password: put it in PGPASSWORD or a pgpass file (passfile=...), not in the configuration")
		}
		return nil
	}
	for f := range strings.FieldsSeq(c.Postgres) {
		if k, _, _ := strings.Cut(f, "="); strings.EqualFold(strings.TrimSpace(k), "password") {
			return errors.New("[catalog] postgres: the connection string holds a password: put it in PGPASSWORD or a pgpass file (passfile=...), not in the configuration")
		}
	}
	if !strings.Contains(c.Postgres, "=") {
		return fmt.Errorf("[catalog] postgres: want postgres://user@host/db or key=value pairs")
	}
	return nil
}

func (s StoreConfig) validate() error {
	if !s.S3() {
		if s.S3Bucket != "" || s.S3Region != "" || s.S3Prefix != "" || s.CredentialsFile != "" || s.Redirect {
			return errors.New("[store]: s3_endpoint is missing (the other s3 settings need it)")
		}
		return nil
	}
	if s.S3Bucket == "" {
		return errors.New("[store] s3_bucket is missing")
	}
	if strings.Contains(s.S3Endpoint, "@") {
		return errors.New("[store] s3_endpoint holds credentials: give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or credentials_file")
	}
	if strings.Contains(s.S3Endpoint, "://") {
		u, err := url.Parse(s.S3Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("[store] s3_endpoint: want host:port or http(s)://host:port, not %q", s.S3Endpoint)
		}
	}
	return nil
}
