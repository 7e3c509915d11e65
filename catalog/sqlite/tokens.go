package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

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
	now := time.Now().UTC().Truncate(time.Second)
	res, err := c.w.ExecContext(ctx, `INSERT INTO tokens(name, role, hash, created) VALUES (?, ?, ?, ?)`, name, string(role), secretHash[:], now.Unix())
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return catalog.Token{}, fmt.Errorf("catalog: a token named %q exists", name)
		}
		return catalog.Token{}, fmt.Errorf("catalog: token: %w", err)
	}
	id, _ := res.LastInsertId()
	return catalog.Token{ID: id, Name: name, Role: role, Created: now}, nil
}

// TokenByHash implements Tokens.
func (c *Catalog) TokenByHash(ctx context.Context, secretHash blob.Digest) (catalog.Token, error) {
	var t catalog.Token
	var created int64
	var role string
	var hash []byte
	err := c.r.QueryRowContext(ctx, `SELECT id, name, role, created, hash FROM tokens WHERE hash = ?`, secretHash[:]).Scan(&t.ID, &t.Name, &role, &created, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return t, errdefs.Errorf(catalog.ErrNotFound, "no such token")
	}
	if err != nil {
		return t, fmt.Errorf("catalog: token: %w", err)
	}
	t.Role, t.Created, t.SecretHash = catalog.Role(role), time.Unix(created, 0).UTC(), blob.Digest(hash)
	return t, nil
}

// ListTokens implements Tokens.
func (c *Catalog) ListTokens(ctx context.Context) ([]catalog.Token, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT id, name, role, created, hash FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("catalog: tokens: %w", err)
	}
	defer rows.Close()
	var out []catalog.Token
	for rows.Next() {
		var t catalog.Token
		var created int64
		var role string
		var hash []byte
		if err := rows.Scan(&t.ID, &t.Name, &role, &created, &hash); err != nil {
			return nil, err
		}
		t.Role, t.Created, t.SecretHash = catalog.Role(role), time.Unix(created, 0).UTC(), blob.Digest(hash)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements Tokens.
func (c *Catalog) RevokeToken(ctx context.Context, name string) error {
	res, err := c.w.ExecContext(ctx, `DELETE FROM tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("catalog: revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.Errorf(catalog.ErrNotFound, "no token named %q", name)
	}
	return nil
}
