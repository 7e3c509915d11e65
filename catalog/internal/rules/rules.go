// Package rules is what both catalogs, catalog/sqlite and
// catalog/postgres, decide alike apart from their SQL: which tokens and
// KV values they accept, and when a snapshot is stamped.
package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

// CheckToken refuses a token that Tokens.CreateToken may not record: of
// an unknown role, or without a name.
func CheckToken(name string, role catalog.Role) error {
	if !slices.Contains(catalog.Roles, role) {
		return fmt.Errorf("catalog: unknown role %q (want one of %v)", role, catalog.Roles)
	}
	if strings.TrimSpace(name) == "" {
		return errors.New("catalog: a token needs a name")
	}
	return nil
}

// CheckKV refuses a value that KV.KVPut may not record: one of more than
// catalog.MaxKV bytes (errdefs.ErrTooLarge).
func CheckKV(key string, value []byte) error {
	if len(value) > catalog.MaxKV {
		return errdefs.Errorf(errdefs.ErrTooLarge, "catalog: %s: a value of %d bytes (at most %d)", key, len(value), catalog.MaxKV)
	}
	return nil
}

// Created is when a new snapshot is made, called once the catalog holds
// what serializes the snapshot's writers: s.Created or, with a Clock, the
// next whole second after the Clock's time if later (timestamp URLs name
// seconds, and one naming the second under way must not change its
// answer). The catalog records it in whole seconds.
func Created(s catalog.NewSnapshot) time.Time {
	created := s.Created
	if s.Clock != nil {
		if next := s.Clock().Truncate(time.Second).Add(time.Second); next.After(created) {
			created = next
		}
	}
	return created
}
