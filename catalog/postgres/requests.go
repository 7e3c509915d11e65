package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

var _ catalog.Requests = (*Catalog)(nil)

// CreateRequest implements Requests.
func (c *Catalog) CreateRequest(ctx context.Context, r catalog.Request) (catalog.Request, error) {
	now := ms(time.Now())
	err := c.write(ctx, func(tx pgx.Tx) error {
		if r.ID == 0 {
			if err := tx.QueryRow(ctx, `INSERT INTO requests(revision, series, state, created, updated, doc, files)
				VALUES (1, $1, $2, $3, $3, $4, $5) RETURNING id`, r.Series, r.State, now, nonNil(r.Doc), byteas(r.Files)).Scan(&r.ID); err != nil {
				return fmt.Errorf("catalog: request: %w", err)
			}
			return nil
		}
		// A copy keeps its ID; the next new request comes after it.
		res, err := tx.Exec(ctx, `INSERT INTO requests(id, revision, series, state, created, updated, doc, files)
			VALUES ($1, 1, $2, $3, $4, $4, $5, $6) ON CONFLICT (id) DO NOTHING`, r.ID, r.Series, r.State, now, nonNil(r.Doc), byteas(r.Files))
		if err != nil {
			return fmt.Errorf("catalog: request: %w", err)
		}
		if res.RowsAffected() == 0 {
			return errdefs.Errorf(errdefs.ErrExists, "update request %d exists already", r.ID)
		}
		if _, err = tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('requests', 'id'), greatest($1, (SELECT last_value FROM requests_id_seq)))`, r.ID); err != nil {
			return fmt.Errorf("catalog: request: %w", err)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	r.Revision, r.Created, r.Updated = 1, now, now
	return r, nil
}

const requestCols = `id, revision, series, state, created, updated, doc, files`

func scanRequest(row pgx.Row) (catalog.Request, error) {
	var r catalog.Request
	var files [][]byte
	if err := row.Scan(&r.ID, &r.Revision, &r.Series, &r.State, &r.Created, &r.Updated, &r.Doc, &files); err != nil {
		return r, err
	}
	r.Created, r.Updated = r.Created.UTC(), r.Updated.UTC()
	var err error
	r.Files, err = digests(files)
	return r, err
}

// Request implements Requests.
func (c *Catalog) Request(ctx context.Context, id int64) (catalog.Request, error) {
	return c.request(ctx, c.pool, id)
}

func (c *Catalog) request(ctx context.Context, q querier, id int64) (catalog.Request, error) {
	r, err := scanRequest(q.QueryRow(ctx, `SELECT `+requestCols+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, errdefs.Errorf(catalog.ErrNotFound, "no update request %d", id)
	}
	if err != nil {
		return r, c.wrap(fmt.Sprintf("request %d", id), err)
	}
	return r, nil
}

// Requests implements Requests.
func (c *Catalog) Requests(ctx context.Context, series, state string) ([]catalog.Request, error) {
	rows, err := c.pool.Query(ctx, `SELECT `+requestCols+` FROM requests
		WHERE ($1 = '' OR series = $1) AND ($2 = '' OR state = $2) ORDER BY id`, series, state)
	if err != nil {
		return nil, c.wrap("requests", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalog.Request, error) { return scanRequest(row) })
	if err != nil {
		return nil, c.wrap("requests", err)
	}
	return out, nil
}

// SaveRequest implements Requests: an update of the row at r.Revision.
// Of two at once, the second waits for the first's row lock, then finds
// the revision moved and matches nothing.
func (c *Catalog) SaveRequest(ctx context.Context, r catalog.Request) (catalog.Request, error) {
	now := ms(time.Now())
	err := c.write(ctx, func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE requests SET revision = revision + 1, series = $1, state = $2, updated = $3, doc = $4, files = $5
			WHERE id = $6 AND revision = $7`, r.Series, r.State, now, nonNil(r.Doc), byteas(r.Files), r.ID, r.Revision)
		if err != nil {
			return fmt.Errorf("catalog: request %d: %w", r.ID, err)
		}
		if res.RowsAffected() == 0 {
			if _, err := c.request(ctx, tx, r.ID); err != nil {
				return err
			}
			return errdefs.Errorf(errdefs.ErrExists, "update request %d changed meanwhile (revision %d is not the newest): look again, and try again", r.ID, r.Revision)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	r.Revision++
	r.Updated = now
	return r, nil
}
