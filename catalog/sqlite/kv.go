package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/rules"
	"github.com/aptsnap/aptsnap/errdefs"
)

var _ catalog.KV = (*Catalog)(nil)

// KVPut implements KV.
func (c *Catalog) KVPut(ctx context.Context, key string, value []byte) error {
	if err := rules.CheckKV(key, value); err != nil {
		return err
	}
	_, err := c.w.ExecContext(ctx, `INSERT INTO kv(key, value, modified) VALUES (?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, modified = excluded.modified`, key, value, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("catalog: kv %s: %w", key, err)
	}
	return nil
}

// KVGet implements KV.
func (c *Catalog) KVGet(ctx context.Context, key string) ([]byte, time.Time, error) {
	var value []byte
	var ms int64
	err := c.r.QueryRowContext(ctx, `SELECT value, modified FROM kv WHERE key = ?`, key).Scan(&value, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, errdefs.Errorf(catalog.ErrNotFound, "catalog: no key %s", key)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("catalog: kv %s: %w", key, err)
	}
	return value, time.UnixMilli(ms).UTC(), nil
}

// KVDelete implements KV.
func (c *Catalog) KVDelete(ctx context.Context, key string) error {
	_, err := c.w.ExecContext(ctx, `DELETE FROM kv WHERE key = ? OR substr(key, 1, ?) = ?`, key, len(key)+1, key+"/")
	if err != nil {
		return fmt.Errorf("catalog: kv %s: %w", key, err)
	}
	return nil
}

// KVList implements KV.
func (c *Catalog) KVList(ctx context.Context, prefix string) ([]string, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT key FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key`, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("catalog: kv list %s: %w", prefix, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out, rows.Err()
}

// KVLock implements KV.
func (c *Catalog) KVLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	now := time.Now()
	res, err := c.w.ExecContext(ctx, `INSERT INTO kv_locks(name, owner, expires) VALUES (?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
		WHERE kv_locks.owner = excluded.owner OR kv_locks.expires < ?`, name, owner, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("catalog: lock %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// KVUnlock implements KV.
func (c *Catalog) KVUnlock(ctx context.Context, name, owner string) error {
	if _, err := c.w.ExecContext(ctx, `DELETE FROM kv_locks WHERE name = ? AND owner = ?`, name, owner); err != nil {
		return fmt.Errorf("catalog: unlock %s: %w", name, err)
	}
	return nil
}
