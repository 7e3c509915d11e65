package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

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
	_, err := c.pool.Exec(ctx, `INSERT INTO kv(key, value, modified) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = excluded.modified`, key, nonNil(value), ms(time.Now()))
	if err != nil {
		return c.wrap("kv "+key, err)
	}
	return nil
}

// KVGet implements KV.
func (c *Catalog) KVGet(ctx context.Context, key string) ([]byte, time.Time, error) {
	var value []byte
	var mod time.Time
	err := c.pool.QueryRow(ctx, `SELECT value, modified FROM kv WHERE key = $1`, key).Scan(&value, &mod)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, errdefs.Errorf(catalog.ErrNotFound, "catalog: no key %s", key)
	}
	if err != nil {
		return nil, time.Time{}, c.wrap("kv "+key, err)
	}
	return value, mod.UTC(), nil
}

// KVDelete implements KV.
func (c *Catalog) KVDelete(ctx context.Context, key string) error {
	if _, err := c.pool.Exec(ctx, `DELETE FROM kv WHERE key = $1 OR starts_with(key, $2)`, key, key+"/"); err != nil {
		return c.wrap("kv "+key, err)
	}
	return nil
}

// KVList implements KV.
func (c *Catalog) KVList(ctx context.Context, prefix string) ([]string, error) {
	rows, err := c.pool.Query(ctx, `SELECT key FROM kv WHERE starts_with(key, $1) ORDER BY key`, prefix)
	if err != nil {
		return nil, c.wrap("kv list "+prefix, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, c.wrap("kv list "+prefix, err)
	}
	return out, nil
}

// KVLock implements KV. Expiry is on the database's clock, the one clock
// every server sharing the catalog reads alike. One statement: of owners
// taking a lock at once, the others find the winner's row.
func (c *Catalog) KVLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	res, err := c.pool.Exec(ctx, `INSERT INTO kv_locks(name, owner, expires) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
		WHERE kv_locks.owner = excluded.owner OR kv_locks.expires < clock_timestamp()`, name, owner, ttl.Microseconds())
	if err != nil {
		return false, c.wrap("lock "+name, err)
	}
	return res.RowsAffected() == 1, nil
}

// KVUnlock implements KV.
func (c *Catalog) KVUnlock(ctx context.Context, name, owner string) error {
	if _, err := c.pool.Exec(ctx, `DELETE FROM kv_locks WHERE name = $1 AND owner = $2`, name, owner); err != nil {
		return c.wrap("unlock "+name, err)
	}
	return nil
}
