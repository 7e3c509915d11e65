package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/rules"
	"github.com/aptsnap/aptsnap/errdefs"
)

var _ catalog.Tokens = (*Catalog)(nil)

// CreateToken implements Tokens.
func (c *Catalog) CreateToken(ctx context.Context, name string, role catalog.Role, secretHash blob.Digest) (catalog.Token, error) {
	if err := rules.CheckToken(name, role); err != nil {
		return catalog.Token{}, err
	}
	now := sec(time.Now())
	var id int64
	err := c.pool.QueryRow(ctx, `INSERT INTO tokens(name, role, hash, created) VALUES ($1, $2, $3, $4) RETURNING id`,
		name, string(role), secretHash[:], now).Scan(&id)
	switch {
	case isUnique(err, "tokens_name_key"):
		return catalog.Token{}, errdefs.Errorf(errdefs.ErrExists, "catalog: a token named %q exists", name)
	case isUnique(err, "tokens_hash_key"):
		return catalog.Token{}, errdefs.Errorf(errdefs.ErrExists, "catalog: a token with that secret exists")
	case err != nil:
		return catalog.Token{}, c.wrap("token", err)
	}
	return catalog.Token{ID: id, Name: name, Role: role, Created: now, SecretHash: secretHash}, nil
}

const tokenCols = `id, name, role, created, hash`

func scanToken(row pgx.Row) (catalog.Token, error) {
	var t catalog.Token
	var role string
	var hash []byte
	if err := row.Scan(&t.ID, &t.Name, &role, &t.Created, &hash); err != nil {
		return t, err
	}
	var err error
	t.Role, t.Created = catalog.Role(role), t.Created.UTC()
	t.SecretHash, err = digest(hash)
	return t, err
}

// TokenByHash implements Tokens.
func (c *Catalog) TokenByHash(ctx context.Context, secretHash blob.Digest) (catalog.Token, error) {
	t, err := scanToken(c.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, secretHash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, errdefs.Errorf(catalog.ErrNotFound, "no such token")
	}
	if err != nil {
		return t, c.wrap("token", err)
	}
	return t, nil
}

// ListTokens implements Tokens.
func (c *Catalog) ListTokens(ctx context.Context) ([]catalog.Token, error) {
	rows, err := c.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY name`)
	if err != nil {
		return nil, c.wrap("tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalog.Token, error) { return scanToken(row) })
	if err != nil {
		return nil, c.wrap("tokens", err)
	}
	return out, nil
}

// RevokeToken implements Tokens.
func (c *Catalog) RevokeToken(ctx context.Context, name string) error {
	res, err := c.pool.Exec(ctx, `DELETE FROM tokens WHERE name = $1`, name)
	if err != nil {
		return c.wrap("revoke token", err)
	}
	if res.RowsAffected() == 0 {
		return errdefs.Errorf(catalog.ErrNotFound, "no token named %q", name)
	}
	return nil
}
