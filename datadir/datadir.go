// Package datadir is the layout of an installation's data directory
// (data_dir in the configuration): the one place its paths are spelled.
//
//	catalog.db        the SQLite catalog (the embedded default)
//	blobs/            the local content-addressed file store
//	locks/            the lock files between processes (lock.Flock)
//	cache/packages/   the web UI's package list per index
//	certs/            the ACME account, certificates and keys
//	uploads/          package uploads spooled until imported
//	signing-key.asc   the signing key, when generated (signing_key unset)
//
// Everything under data_dir but the catalog, the store and the signing key
// can be deleted while no aptsnap runs: it is rebuilt when needed.
package datadir

import "path/filepath"

// Dir is a data directory.
type Dir string

// Catalog is the SQLite catalog's database file.
func (d Dir) Catalog() string { return d.join("catalog.db") }

// Blobs is the local file store's directory.
func (d Dir) Blobs() string { return d.join("blobs") }

// Locks holds the lock files of the processes sharing the directory.
func (d Dir) Locks() string { return d.join("locks") }

// PackageLists holds the web UI's package list per Packages index.
func (d Dir) PackageLists() string { return d.join("cache", "packages") }

// Certs holds what ACME certificate management keeps.
func (d Dir) Certs() string { return d.join("certs") }

// Uploads is where the API spools package uploads until they are imported.
func (d Dir) Uploads() string { return d.join("uploads") }

// SigningKey is where the signing key is generated when the configuration
// names none.
func (d Dir) SigningKey() string { return d.join("signing-key.asc") }

func (d Dir) join(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}
