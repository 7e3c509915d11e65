// Package manifest reads build manifests: the list of binary and source
// packages (with exact versions) an image or release was built from, used
// to cut a tagged snapshot down to exactly those packages.
//
//	packages:
//	  binary:
//	    - {package: hello, version: 2.10-3, arch: amd64}
//	  source:
//	    - {package: hello, version: 2.10-3}
package manifest

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Binary is one binary package of a manifest. An empty Arch matches any.
type Binary struct {
	Package string `yaml:"package" json:"package"`
	Version string `yaml:"version" json:"version"`
	Arch    string `yaml:"arch" json:"arch,omitempty"`
}

func (b Binary) String() string {
	s := "binary " + b.Package + "=" + b.Version
	if b.Arch != "" {
		s += " (" + b.Arch + ")"
	}
	return s
}

// Source is one source package of a manifest.
type Source struct {
	Package string `yaml:"package" json:"package"`
	Version string `yaml:"version" json:"version"`
}

func (s Source) String() string { return "source " + s.Package + "=" + s.Version }

// Manifest is a parsed build manifest.
type Manifest struct {
	Packages struct {
		Binary []Binary `yaml:"binary" json:"binary,omitempty"`
		Source []Source `yaml:"source" json:"source,omitempty"`
	} `yaml:"packages" json:"packages"`
}

// Parse reads a manifest; unknown keys and entries without a package or
// version are errors.
func Parse(data []byte) (*Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	for i, b := range m.Packages.Binary {
		if b.Package == "" || b.Version == "" {
			return nil, fmt.Errorf("manifest: packages.binary[%d]: package and version are required", i)
		}
	}
	for i, s := range m.Packages.Source {
		if s.Package == "" || s.Version == "" {
			return nil, fmt.Errorf("manifest: packages.source[%d]: package and version are required", i)
		}
	}
	if len(m.Packages.Binary)+len(m.Packages.Source) == 0 {
		return nil, fmt.Errorf("manifest: lists no package")
	}
	return &m, nil
}

// Load reads the manifest at path.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
