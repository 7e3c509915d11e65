package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
	"github.com/aptsnap/aptsnap/catalog/internal/idset"
	"github.com/aptsnap/aptsnap/errdefs"
)

var _ catalog.Lifecycle = (*Catalog)(nil)

// UpdateReleases implements Lifecycle.
func (c *Catalog) UpdateReleases(ctx context.Context, archive, serial string, validUntil time.Time,
	sign func(suite string, release []byte) (catalog.SignedRelease, error)) (catalog.Snapshot, error) {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return catalog.Snapshot{}, fmt.Errorf("catalog: begin: %w", err)
	}
	defer tx.Rollback()
	var sid int64
	err = tx.QueryRowContext(ctx, `SELECT s.id FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE a.name = ? AND s.serial = ?`, archive, serial).Scan(&sid)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Snapshot{}, errdefs.Errorf(catalog.ErrNotFound, "no snapshot %s of %s (collected, or never made)", serial, archive)
	}
	if err != nil {
		return catalog.Snapshot{}, fmt.Errorf("catalog: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT suite, release FROM snapshot_suites WHERE snapshot_id = ?`, sid)
	if err != nil {
		return catalog.Snapshot{}, fmt.Errorf("catalog: %w", err)
	}
	type suiteRel struct {
		name string
		rel  []byte
	}
	var suites []suiteRel
	for rows.Next() {
		var s suiteRel
		if err := rows.Scan(&s.name, &s.rel); err != nil {
			rows.Close()
			return catalog.Snapshot{}, err
		}
		suites = append(suites, s)
	}
	rows.Close()
	now := time.Now().Unix()
	for _, s := range suites {
		sr, err := sign(s.name, s.rel)
		if err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: %s: %w", s.name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE snapshot_suites SET release = ?, inrelease = ?, release_gpg = ?, signed = ?
			WHERE snapshot_id = ? AND suite = ?`, sr.Release, sr.InRelease, sr.ReleaseGPG, now, sid, s.name); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: %s: %w", s.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE snapshots SET valid_until = ? WHERE id = ?`, validUntil.Unix(), sid); err != nil {
		return catalog.Snapshot{}, fmt.Errorf("catalog: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return catalog.Snapshot{}, fmt.Errorf("catalog: commit: %w", err)
	}
	return c.Snapshot(ctx, archive, serial)
}

// Collect implements Lifecycle.
func (c *Catalog) Collect(ctx context.Context, now time.Time, dry bool) (catalog.Collection, error) {
	var col catalog.Collection
	// A dry run only reads, on the read connections: it never holds up a
	// writer (the web UI's storage page runs one).
	db := c.w
	if dry {
		db = c.r
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return col, fmt.Errorf("catalog: begin: %w", err)
	}
	defer tx.Rollback()
	restore, err := passCache(ctx, tx)
	if err != nil {
		return col, err
	}
	defer restore()

	// Expired, but not an archive's newest time-based snapshot.
	rows, err := tx.QueryContext(ctx, `SELECT `+snapshotCols+`, a.name FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE s.valid_until > 0 AND s.valid_until <= ? AND s.serial NOT LIKE '@%'
		AND s.serial < (SELECT max(n.serial) FROM snapshots n WHERE n.archive_id = s.archive_id AND n.serial NOT LIKE '@%')
		ORDER BY a.name, s.serial`, now.Unix())
	if err != nil {
		return col, fmt.Errorf("catalog: expired: %w", err)
	}
	for rows.Next() {
		var s catalog.Snapshot
		var created, valid int64
		var suites sql.NullString
		if err := rows.Scan(&s.ID, &s.Serial, &created, &valid, &suites, &s.Archive); err != nil {
			rows.Close()
			return col, err
		}
		s.Created, s.ValidUntil = time.Unix(created, 0).UTC(), time.Unix(valid, 0).UTC()
		col.Snapshots = append(col.Snapshots, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return col, err
	}
	expired := make([]int64, 0, len(col.Snapshots))
	for _, s := range col.Snapshots {
		expired = append(expired, s.ID)
		if dry {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM snapshot_suites WHERE snapshot_id = ?`, s.ID); err != nil {
			return col, fmt.Errorf("catalog: delete %s/%s: %w", s.Archive, s.Serial, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE id = ?`, s.ID); err != nil {
			return col, fmt.Errorf("catalog: delete %s/%s: %w", s.Archive, s.Serial, err)
		}
	}
	if col.Live, err = collectUnreferenced(ctx, tx, dry, expired); err != nil {
		return col, err
	}
	if err := restore(); err != nil {
		return col, err
	}
	if dry {
		return col, tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return col, fmt.Errorf("catalog: commit: %w", err)
	}
	return col, nil
}

// passCacheKiB is SQLite's page cache, per connection, for a pass over
// the catalog.
const passCacheKiB = 256

// passCache gives tx's connection a small page cache until restore: a
// collection reads every suite state, index and pool file row once, and
// SQLite's cache cannot help a single pass (the kernel's page cache holds
// the file), while at its default (2 MB a connection) it was a fifth of
// a local gc's memory. restore gives the connection back its cache
// before it returns to the pool; calling it again does nothing.
func passCache(ctx context.Context, tx *sql.Tx) (restore func() error, err error) {
	var was int64
	if err := tx.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&was); err != nil {
		return nil, fmt.Errorf("catalog: cache size: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, -passCacheKiB)); err != nil {
		return nil, fmt.Errorf("catalog: cache size: %w", err)
	}
	done := false
	return func() error {
		if done {
			return nil
		}
		done = true
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, was)); err != nil {
			return fmt.Errorf("catalog: cache size: %w", err)
		}
		return nil
	}, nil
}

// archiveIndex names an index record: an index of one archive.
type archiveIndex struct {
	archive int64
	sha     blob.Digest
}

// collectUnreferenced deletes suite states no snapshot uses, indices no
// suite state uses and pool file records no index lists, and returns the
// digests of every stored file still referenced.
func collectUnreferenced(ctx context.Context, tx *sql.Tx, dry bool, expired []int64) (blob.Set, error) {
	var none blob.Set
	states := `SELECT archive_id, upstream, files, indices FROM suite_states`
	var args []any
	if dry {
		// Nothing is deleted: the live states are those of the snapshots
		// that would stay.
		ids, _ := json.Marshal(expired)
		states += ` WHERE id IN (SELECT state_id FROM snapshot_suites WHERE snapshot_id NOT IN (SELECT value FROM json_each(?)))`
		args = append(args, string(ids))
	} else if _, err := tx.ExecContext(ctx, `DELETE FROM suite_states WHERE id NOT IN (SELECT state_id FROM snapshot_suites)`); err != nil {
		return none, fmt.Errorf("catalog: collect suite states: %w", err)
	}
	var live blob.SetBuilder
	if err := requestFiles(ctx, tx, &live); err != nil {
		return none, err
	}
	liveIdx := map[archiveIndex]bool{}
	rows, err := tx.QueryContext(ctx, states, args...)
	if err != nil {
		return none, fmt.Errorf("catalog: collect: %w", err)
	}
	for rows.Next() {
		var aid int64
		var up, idx []byte
		var files string
		if err := rows.Scan(&aid, &up, &files, &idx); err != nil {
			rows.Close()
			return none, err
		}
		live.Add(blob.Digest(up))
		fs, err := decodeFiles(files)
		if err != nil {
			rows.Close()
			return none, err
		}
		for _, f := range fs {
			live.Add(f.SHA256)
		}
		for i := 0; i+32 <= len(idx); i += 32 {
			liveIdx[archiveIndex{aid, blob.Digest(idx[i : i+32])}] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return none, err
	}
	// Indices: keep the live ones, remember their members.
	var dead []archiveIndex
	var liveIDs idset.Set
	rows, err = tx.QueryContext(ctx, `SELECT archive_id, sha256, members FROM indices`)
	if err != nil {
		return none, fmt.Errorf("catalog: collect indices: %w", err)
	}
	for rows.Next() {
		var aid int64
		var sha, members []byte
		if err := rows.Scan(&aid, &sha, &members); err != nil {
			rows.Close()
			return none, err
		}
		if k := (archiveIndex{aid, blob.Digest(sha)}); !liveIdx[k] {
			dead = append(dead, k)
			continue
		}
		ids, err := codec.DecodeIDs(members)
		if err != nil {
			rows.Close()
			return none, fmt.Errorf("catalog: index %x: %w", sha, err)
		}
		for _, id := range ids {
			liveIDs.Add(id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return none, err
	}
	for _, k := range dead {
		if dry {
			break
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM indices WHERE archive_id = ? AND sha256 = ?`, k.archive, k.sha[:]); err != nil {
			return none, fmt.Errorf("catalog: collect index: %w", err)
		}
	}
	// Pool file records: keep those a live index lists (room for them
	// all, so that the list does not grow by copies: the live pool files
	// are most of it).
	live.Grow(liveIDs.Len())
	var deadIDs []int64
	rows, err = tx.QueryContext(ctx, `SELECT id, sha256 FROM pool_files`)
	if err != nil {
		return none, fmt.Errorf("catalog: collect pool: %w", err)
	}
	for rows.Next() {
		var id int64
		var sha []byte
		if err := rows.Scan(&id, &sha); err != nil {
			rows.Close()
			return none, err
		}
		if liveIDs.Has(id) {
			live.Add(blob.Digest(sha))
		} else {
			deadIDs = append(deadIDs, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return none, err
	}
	set := live.Set()
	if dry {
		return set, nil
	}
	slices.Sort(deadIDs)
	del, err := tx.PrepareContext(ctx, `DELETE FROM pool_files WHERE id = ?`)
	if err != nil {
		return none, err
	}
	defer del.Close()
	for _, id := range deadIDs {
		if _, err := del.ExecContext(ctx, id); err != nil {
			return none, fmt.Errorf("catalog: collect pool file %d: %w", id, err)
		}
	}
	return set, nil
}

// Untrack implements Lifecycle.
func (c *Catalog) Untrack(ctx context.Context, archive string, suites ...string) (int, error) {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("catalog: begin: %w", err)
	}
	defer tx.Rollback()
	aid, err := archiveID(ctx, tx, archive, true)
	if err != nil {
		return 0, err
	}
	changed := map[int64]bool{}
	for _, suite := range suites {
		// Tagged snapshots are immutable: they keep the suite.
		rows, err := tx.QueryContext(ctx, `DELETE FROM snapshot_suites WHERE suite = ? AND snapshot_id IN
			(SELECT id FROM snapshots WHERE archive_id = ? AND serial NOT LIKE '@%') RETURNING snapshot_id`, suite, aid)
		if err != nil {
			return 0, fmt.Errorf("catalog: untrack %s: %w", suite, err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, fmt.Errorf("catalog: untrack %s: %w", suite, err)
			}
			changed[id] = true
		}
		if err := rows.Close(); err != nil {
			return 0, fmt.Errorf("catalog: untrack %s: %w", suite, err)
		}
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("catalog: untrack %s: %w", suite, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO untracked(archive_id, suite) VALUES (?, ?)`, aid, suite); err != nil {
			return 0, fmt.Errorf("catalog: untrack %s: %w", suite, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM suite_marks WHERE archive_id = ? AND suite = ?`, aid, suite); err != nil {
			return 0, fmt.Errorf("catalog: untrack %s: %w", suite, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("catalog: untrack: %w", err)
	}
	return len(changed), nil
}

// Untracked implements Lifecycle.
func (c *Catalog) Untracked(ctx context.Context, archive string) ([]string, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT u.suite FROM untracked u JOIN archives a ON a.id = u.archive_id WHERE a.name = ? ORDER BY u.suite`, archive)
	if err != nil {
		return nil, fmt.Errorf("catalog: untracked: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Track implements Lifecycle.
func (c *Catalog) Track(ctx context.Context, archive, suite string) error {
	_, err := c.w.ExecContext(ctx, `DELETE FROM untracked WHERE suite = ? AND archive_id = (SELECT id FROM archives WHERE name = ?)`, suite, archive)
	if err != nil {
		return fmt.Errorf("catalog: track: %w", err)
	}
	return nil
}

// Expire implements Lifecycle.
func (c *Catalog) Expire(ctx context.Context, archive, serial string) (catalog.Snapshot, error) {
	snap, err := c.Snapshot(ctx, archive, serial)
	if err != nil {
		return snap, err
	}
	if strings.HasPrefix(snap.Serial, "@") {
		return snap, errdefs.Errorf(errdefs.ErrInvalid, "%s/%s is a tagged snapshot: delete its tag instead", archive, serial)
	}
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return snap, fmt.Errorf("catalog: begin: %w", err)
	}
	defer tx.Rollback()
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE a.name = ? AND s.serial NOT LIKE '@%' AND s.id != ?`, archive, snap.ID).Scan(&others); err != nil {
		return snap, fmt.Errorf("catalog: %w", err)
	}
	if others == 0 {
		return snap, errdefs.Errorf(errdefs.ErrInvalid, "%s/%s is the only snapshot of %s: withdrawn, the archive would serve nothing (pulse first, then withdraw it)", archive, serial, archive)
	}
	if err := deleteSnapshots(ctx, tx, `id = ?`, snap.ID); err != nil {
		return snap, fmt.Errorf("catalog: expire %s/%s: %w", archive, serial, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO withdrawn(archive_id, serial, withdrawn)
		SELECT id, ?, ? FROM archives WHERE name = ?`, serial, time.Now().Unix(), archive); err != nil {
		return snap, fmt.Errorf("catalog: expire %s/%s: %w", archive, serial, err)
	}
	if err := tx.Commit(); err != nil {
		return snap, fmt.Errorf("catalog: commit: %w", err)
	}
	return snap, nil
}

// Tags implements Lifecycle.
func (c *Catalog) Tags(ctx context.Context) ([]catalog.Snapshot, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT `+snapshotCols+`, a.name FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE s.serial LIKE '@%' AND s.serial != ? ORDER BY s.serial, a.name`, catalog.TagSerial(catalog.WorkingTag))
	if err != nil {
		return nil, fmt.Errorf("catalog: tags: %w", err)
	}
	defer rows.Close()
	var out []catalog.Snapshot
	for rows.Next() {
		var s catalog.Snapshot
		var created, valid int64
		var suites sql.NullString
		if err := rows.Scan(&s.ID, &s.Serial, &created, &valid, &suites, &s.Archive); err != nil {
			return nil, err
		}
		s.Created = time.Unix(created, 0).UTC()
		if suites.String != "" {
			s.Suites = strings.Split(suites.String, ",")
			slices.Sort(s.Suites)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// DeleteTag implements Lifecycle.
func (c *Catalog) DeleteTag(ctx context.Context, tag string) (int, error) {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("catalog: begin: %w", err)
	}
	defer tx.Rollback()
	if tag == catalog.WorkingTag { // not a tag: the custom archives' contents
		return 0, errdefs.Errorf(catalog.ErrNotFound, "no tag %s", tag)
	}
	serial := catalog.TagSerial(tag)
	if _, err := tx.ExecContext(ctx, `DELETE FROM snapshot_suites WHERE snapshot_id IN (SELECT id FROM snapshots WHERE serial = ?)`, serial); err != nil {
		return 0, fmt.Errorf("catalog: delete tag %s: %w", tag, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE serial = ?`, serial)
	if err != nil {
		return 0, fmt.Errorf("catalog: delete tag %s: %w", tag, err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return 0, errdefs.Errorf(catalog.ErrNotFound, "no tag %s", tag)
	}
	return int(n), tx.Commit()
}

// requestFiles adds the files requests hold to live.
func requestFiles(ctx context.Context, tx *sql.Tx, live *blob.SetBuilder) error {
	rows, err := tx.QueryContext(ctx, `SELECT files FROM requests WHERE length(files) > 0`)
	if err != nil {
		return fmt.Errorf("catalog: collect requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var files []byte
		if err := rows.Scan(&files); err != nil {
			return err
		}
		for _, d := range decodeDigests(files) {
			live.Add(d)
		}
	}
	return rows.Err()
}
