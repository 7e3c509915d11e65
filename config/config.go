// Package config reads aptsnap's TOML configuration file.
//
// One file describes the server (data directory, listen address, public URL,
// signing key) and the archives it mirrors. Unknown keys are an error, so a
// typo never silently changes behaviour.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
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
	// GCEvery is how often `aptsnap serve` collects garbage, as a Go
	// duration ("6h"); "0" turns scheduled GC off.
	GCEvery string `toml:"gc_every"`
	// GCInterval is GCEvery parsed.
	GCInterval time.Duration `toml:"-"`
	// Archives are the upstream repositories mirrored.
	Archives []Archive `toml:"archive"`
}

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
	// PulsesPerDay is how many times a day `aptsnap serve` pulses this archive.
	PulsesPerDay int `toml:"pulses_per_day"`
	// ValidDays is how long a new snapshot's Release stays valid.
	ValidDays int `toml:"valid_days"`
}

// Defaults applied to fields left empty.
const (
	DefaultDataDir      = "/var/lib/aptsnap"
	DefaultListen       = "127.0.0.1:8080"
	DefaultPulsesPerDay = 4
	DefaultValidDays    = 10
	DefaultParallel     = 8
	DefaultGCEvery      = "6h"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)

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
	return c, nil
}

// Parse decodes and validates a configuration held in memory.
func Parse(data []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("unknown key(s): %s", strings.Join(keys, ", "))
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
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
	if c.GCEvery == "" {
		c.GCEvery = DefaultGCEvery
	}
	for i := range c.Archives {
		a := &c.Archives[i]
		a.URL = strings.TrimRight(a.URL, "/")
		if a.PulsesPerDay == 0 {
			a.PulsesPerDay = DefaultPulsesPerDay
		}
		if a.ValidDays == 0 {
			a.ValidDays = DefaultValidDays
		}
	}
}

func (c *Config) resolve(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.DataDir = abs(c.DataDir)
	c.SigningKey = abs(c.SigningKey)
	for i := range c.Archives {
		c.Archives[i].Keyring = abs(c.Archives[i].Keyring)
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
	seen := map[string]bool{}
	for i, a := range c.Archives {
		where := fmt.Sprintf("archive[%d] %q", i, a.Name)
		switch {
		case !nameRE.MatchString(a.Name):
			return fmt.Errorf("%s: name must match %s", where, nameRE)
		case a.Name == "keys" || a.Name == "tagged" || a.Name == "api" || a.Name == "metrics":
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
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
			return fmt.Errorf("%s: url must be http, https or file: %q", where, a.URL)
		}
		for _, list := range [][]string{a.Suites, a.Components, a.Architectures} {
			for _, s := range list {
				if s == "" || strings.ContainsAny(s, " \t\n") || s == "." || s == ".." || strings.HasPrefix(s, "/") || strings.Contains(s, "..") {
					return fmt.Errorf("%s: invalid name %q", where, s)
				}
			}
		}
		seen[a.Name] = true
	}
	return nil
}

// Archive returns the archive named name.
func (c *Config) Archive(name string) (*Archive, error) {
	for i := range c.Archives {
		if c.Archives[i].Name == name {
			return &c.Archives[i], nil
		}
	}
	return nil, fmt.Errorf("config: no archive named %q", name)
}

// ErrNoArchives is returned by callers that need at least one archive.
var ErrNoArchives = errors.New("config: no [[archive]] configured")

// PulseInterval is the time between two scheduled pulses of a.
func (a *Archive) PulseInterval() time.Duration {
	if a.PulsesPerDay <= 0 {
		return 0
	}
	return 24 * time.Hour / time.Duration(a.PulsesPerDay)
}

// ValidFor is how long a new snapshot of a stays valid.
func (a *Archive) ValidFor() time.Duration { return time.Duration(a.ValidDays) * 24 * time.Hour }

// SigningKeyPath is where the signing key is read from (or generated into).
func (c *Config) SigningKeyPath() string {
	if c.SigningKey != "" {
		return c.SigningKey
	}
	return filepath.Join(c.DataDir, "signing-key.asc")
}
