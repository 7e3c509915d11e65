package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

var _ catalog.Requests = (*Catalog)(nil)

// CreateRequest implements Requests.
func (c *Catalog) CreateRequest(ctx context.Context, r catalog.Request) (catalog.Request, error) {
	now := time.Now().UTC()
	var id any // NULL: the next
	if r.ID != 0 {
		id = r.ID
		var n int
		if err := c.w.QueryRowContext(ctx, `SELECT count(*) FROM requests WHERE id = ?`, r.ID).Scan(&n); err != nil {
			return r, fmt.Errorf("catalog: request: %w", err)
		}
		if n > 0 {
			return r, errdefs.Errorf(errdefs.ErrExists, "update request %d exists already", r.ID)
		}
	}
	res, err := c.w.ExecContext(ctx, `INSERT INTO requests(id, revision, series, state, created, updated, doc, files) VALUES (?, 1, ?, ?, ?, ?, ?, ?)`,
		id, r.Series, r.State, now.UnixMilli(), now.UnixMilli(), r.Doc, encodeDigests(r.Files))
	if err != nil {
		return r, fmt.Errorf("catalog: request: %w", err)
	}
	r.ID, _ = res.LastInsertId()
	r.Revision, r.Created, r.Updated = 1, now.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	return r, nil
}

const requestCols = `id, revision, series, state, created, updated, doc, files`

func scanRequest(sc interface{ Scan(...any) error }) (catalog.Request, error) {
	var r catalog.Request
	var created, updated int64
	var files []byte
	if err := sc.Scan(&r.ID, &r.Revision, &r.Series, &r.State, &created, &updated, &r.Doc, &files); err != nil {
		return r, err
	}
	r.Files = decodeDigests(files)
	r.Created, r.Updated = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return r, nil
}

// Request implements Requests.
func (c *Catalog) Request(ctx context.Context, id int64) (catalog.Request, error) {
	r, err := scanRequest(c.r.QueryRowContext(ctx, `SELECT `+requestCols+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errdefs.Errorf(catalog.ErrNotFound, "no update request %d", id)
	}
	if err != nil {
		return r, fmt.Errorf("catalog: request %d: %w", id, err)
	}
	return r, nil
}

// Requests implements Requests.
func (c *Catalog) Requests(ctx context.Context, series, state string) ([]catalog.Request, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT `+requestCols+` FROM requests
		WHERE (?1 = '' OR series = ?1) AND (?2 = '' OR state = ?2) ORDER BY id`, series, state)
	if err != nil {
		return nil, fmt.Errorf("catalog: requests: %w", err)
	}
	defer rows.Close()
	var out []catalog.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SaveRequest implements Requests.
func (c *Catalog) SaveRequest(ctx context.Context, r catalog.Request) (catalog.Request, error) {
	now := time.Now().UTC()
	res, err := c.w.ExecContext(ctx, `UPDATE requests SET revision = revision + 1, series = ?, state = ?, updated = ?, doc = ?, files = ?
		WHERE id = ? AND revision = ?`, r.Series, r.State, now.UnixMilli(), r.Doc, encodeDigests(r.Files), r.ID, r.Revision)
	if err != nil {
		return r, fmt.Errorf("catalog: request %d: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := c.Request(ctx, r.ID); err != nil {
			return r, err
		}
		return r, errdefs.Errorf(errdefs.ErrExists, "update request %d changed meanwhile (revision %d is not the newest): look again, and try again", r.ID, r.Revision)
	}
	r.Revision++
	r.Updated = now.Truncate(time.Millisecond)
	return r, nil
}

// encodeDigests concatenates digests.
func encodeDigests(ds []blob.Digest) []byte {
	out := make([]byte, 0, len(ds)*len(blob.Digest{}))
	for _, d := range ds {
		out = append(out, d[:]...)
	}
	return out
}

// decodeDigests splits what encodeDigests wrote.
func decodeDigests(b []byte) []blob.Digest {
	var out []blob.Digest
	for n := len(blob.Digest{}); len(b) >= n; b = b[n:] {
		out = append(out, blob.Digest(b[:n]))
	}
	return out
}
