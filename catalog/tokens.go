package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
)

var _ Tokens = (*SQLite)(nil)

// CreateToken implements Tokens.
func (c *SQLite) CreateToken(ctx context.Context, name string, role Role, secretHash blob.Digest) (Token, error) {
	if role != RoleAdmin && role != RoleReleaseManager {
		return Token{}, fmt.Errorf("catalog: unknown role %q (want %s or %s)", role, RoleReleaseManager, RoleAdmin)
	}
	if strings.TrimSpace(name) == "" {
		return Token{}, errors.New("catalog: a token needs a name")
	}
	now := time.Now().UTC().Truncate(time.Second)
	res, err := c.w.ExecContext(ctx, `INSERT INTO tokens(name, role, hash, created) VALUES (?, ?, ?, ?)`, name, string(role), secretHash[:], now.Unix())
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return Token{}, fmt.Errorf("catalog: a token named %q exists", name)
		}
		return Token{}, fmt.Errorf("catalog: token: %w", err)
	}
	id, _ := res.LastInsertId()
	return Token{ID: id, Name: name, Role: role, Created: now}, nil
}

// TokenByHash implements Tokens.
func (c *SQLite) TokenByHash(ctx context.Context, secretHash blob.Digest) (Token, error) {
	var t Token
	var created int64
	var role string
	err := c.r.QueryRowContext(ctx, `SELECT id, name, role, created FROM tokens WHERE hash = ?`, secretHash[:]).Scan(&t.ID, &t.Name, &role, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: token", ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("catalog: token: %w", err)
	}
	t.Role, t.Created = Role(role), time.Unix(created, 0).UTC()
	return t, nil
}

// ListTokens implements Tokens.
func (c *SQLite) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT id, name, role, created FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("catalog: tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var created int64
		var role string
		if err := rows.Scan(&t.ID, &t.Name, &role, &created); err != nil {
			return nil, err
		}
		t.Role, t.Created = Role(role), time.Unix(created, 0).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements Tokens.
func (c *SQLite) RevokeToken(ctx context.Context, name string) error {
	res, err := c.w.ExecContext(ctx, `DELETE FROM tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("catalog: revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: token %q", ErrNotFound, name)
	}
	return nil
}
