package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
	"github.com/aptsnap/aptsnap/catalog/internal/rules"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/names"
)

// CreateSnapshot implements Catalog.
func (c *Catalog) CreateSnapshot(ctx context.Context, s catalog.NewSnapshot) (catalog.Snapshot, error) {
	out, err := c.CreateSnapshots(ctx, []catalog.NewSnapshot{s})
	if err != nil {
		return catalog.Snapshot{}, err
	}
	return out[0], nil
}

// CreateSnapshots implements Catalog: all of them in one transaction, or
// none, holding the rows of their archives locked (in name order) from
// the start.
func (c *Catalog) CreateSnapshots(ctx context.Context, ss []catalog.NewSnapshot) ([]catalog.Snapshot, error) {
	var out []catalog.Snapshot
	err := c.write(ctx, func(tx pgx.Tx) error {
		out = nil
		var names []string
		for _, s := range ss {
			names = append(names, s.Archive)
		}
		slices.Sort(names)
		ids := map[string]int64{}
		for _, n := range slices.Compact(names) {
			id, err := lockArchive(ctx, tx, n, true)
			if err != nil {
				return err
			}
			ids[n] = id
		}
		for _, s := range ss {
			snap, err := createSnapshot(ctx, tx, ids[s.Archive], s)
			if err != nil {
				return err
			}
			out = append(out, snap)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func createSnapshot(ctx context.Context, tx pgx.Tx, aid int64, s catalog.NewSnapshot) (catalog.Snapshot, error) {
	if s.Tag != "" && s.Replace {
		if _, err := tx.Exec(ctx, `DELETE FROM snapshots WHERE archive_id = $1 AND serial = $2`, aid, catalog.TagSerial(s.Tag)); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: replace tag %s of %s: %w", s.Tag, s.Archive, err)
		}
	} else if s.Tag != "" {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM snapshots WHERE archive_id = $1 AND serial = $2`,
			aid, catalog.TagSerial(s.Tag)).Scan(&n); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: tag %s of %s: %w", s.Tag, s.Archive, err)
		}
		if n > 0 {
			return catalog.Snapshot{}, errdefs.Errorf(catalog.ErrExists, "tag %s has a snapshot of %s already", s.Tag, s.Archive)
		}
	} else {
		// Untracked while the pulse ran: not part of the snapshot.
		rows, err := tx.Query(ctx, `SELECT suite FROM untracked WHERE archive_id = $1`, aid)
		if err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: untracked suites of %s: %w", s.Archive, err)
		}
		untracked, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: untracked suites of %s: %w", s.Archive, err)
		}
		s.Suites = slices.DeleteFunc(slices.Clone(s.Suites), func(su catalog.NewSuite) bool { return slices.Contains(untracked, su.Name) })
		if len(s.Suites) == 0 {
			return catalog.Snapshot{}, fmt.Errorf("catalog: every suite of the snapshot of %s was untracked meanwhile", s.Archive)
		}
	}

	// First what the snapshot references: pool files, indices, suite states.
	states := make([]int64, len(s.Suites))
	for i, su := range s.Suites {
		for d, entries := range su.NewIndices {
			if err := addIndex(ctx, tx, aid, d, entries); err != nil {
				return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
			}
		}
		if err := checkIndices(ctx, tx, aid, su); err != nil {
			return catalog.Snapshot{}, err
		}
		var err error
		if states[i], err = suiteState(ctx, tx, aid, su); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
		}
	}

	// Then the snapshot itself, stamped now: this transaction holds the
	// archive's lock, and a snapshot stamped before it waited for the lock
	// would appear in the past, changing the answer to a timestamp URL
	// already given.
	created := sec(rules.Created(s))
	serial := catalog.TagSerial(s.Tag)
	var validUntil *time.Time
	switch {
	case s.Tag == "" && s.Serial != "":
		// A copy keeps its serial, and when it was made.
		if err := serialFree(ctx, tx, aid, s.Archive, s.Serial); err != nil {
			return catalog.Snapshot{}, err
		}
		serial, created = s.Serial, sec(s.Created)
		v := sec(s.ValidUntil)
		validUntil = &v
	case s.Tag == "":
		var err error
		if serial, created, err = nextSerial(ctx, tx, aid, s.Archive, created); err != nil {
			return catalog.Snapshot{}, err
		}
		v := sec(s.ValidUntil)
		validUntil = &v
	}
	var sid int64
	if err := tx.QueryRow(ctx, `INSERT INTO snapshots(archive_id, serial, created, valid_until) VALUES ($1, $2, $3, $4) RETURNING id`,
		aid, serial, created, validUntil).Scan(&sid); err != nil {
		if isUnique(err, "snapshots_archive_id_serial_key") {
			return catalog.Snapshot{}, errdefs.Errorf(catalog.ErrExists, "%s has a snapshot %s already", s.Archive, serial)
		}
		return catalog.Snapshot{}, fmt.Errorf("catalog: snapshot: %w", err)
	}
	if p := s.Pulse; p != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO pulses(archive_id, started, finished, ok, serial, error) VALUES ($1, $2, $3, true, $4, '')`,
			aid, ms(p.Started), ms(maxTime(created, p.Started)), serial); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: pulse: %w", err)
		}
	}
	var suites []string
	for i, su := range s.Suites {
		if _, err := tx.Exec(ctx, `INSERT INTO snapshot_suites(snapshot_id, suite, state_id, release, inrelease, release_gpg, signed)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, sid, su.Name, states[i], nonNil(su.Release), nonNil(su.InRelease), nonNil(su.ReleaseGPG), created); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
		}
		suites = append(suites, su.Name)
		if s.Tag != "" {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO suite_marks(archive_id, suite, last_date) VALUES ($1, $2, $3)
			ON CONFLICT (archive_id, suite) DO UPDATE SET last_date = greatest(suite_marks.last_date, excluded.last_date)`,
			aid, su.Name, sec(su.UpstreamDate)); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
		}
	}
	out := catalog.Snapshot{ID: sid, Archive: s.Archive, Serial: serial, Created: created, Suites: suites}
	if validUntil != nil {
		out.ValidUntil = *validUntil
	}
	return out, nil
}

// checkIndices makes sure the catalog records every index su lists: one
// neither known nor given was collected while the pulse ran.
func checkIndices(ctx context.Context, tx pgx.Tx, aid int64, su catalog.NewSuite) error {
	if len(su.Indices) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT sha256 FROM indices WHERE archive_id = $1 AND sha256 = ANY($2)`, aid, byteas(su.Indices))
	if err != nil {
		return fmt.Errorf("catalog: suite %s: %w", su.Name, err)
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return fmt.Errorf("catalog: suite %s: %w", su.Name, err)
	}
	for _, d := range su.Indices {
		if !slices.ContainsFunc(known, func(k []byte) bool { return string(k) == string(d[:]) }) {
			return fmt.Errorf("catalog: suite %s: index %s was collected during the pulse: pulse again", su.Name, d)
		}
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// nonNil is b, or an empty value for a NOT NULL bytea column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nextSerial gives a time-based snapshot created at created its serial,
// the next of its UTC day, and the creation time to record: never before
// the archive's newest snapshot, should the clock step back. The caller
// holds the archive's row lock: no other transaction allocates one of its
// serials until this one ends.
func nextSerial(ctx context.Context, tx pgx.Tx, aid int64, archive string, created time.Time) (string, time.Time, error) {
	var newest *time.Time
	if err := tx.QueryRow(ctx, `SELECT max(created) FROM snapshots WHERE archive_id = $1 AND serial NOT LIKE '@%'`, aid).Scan(&newest); err != nil {
		return "", created, fmt.Errorf("catalog: serial: %w", err)
	}
	if newest != nil && created.Before(*newest) {
		created = newest.UTC()
	}
	day := created.Format("20060102")
	var last *string
	if err := tx.QueryRow(ctx, `SELECT max(serial) FROM (SELECT serial FROM snapshots WHERE archive_id = $1 AND serial LIKE $2
		UNION ALL SELECT serial FROM withdrawn WHERE archive_id = $1 AND serial LIKE $2) x`,
		aid, day+"__").Scan(&last); err != nil {
		return "", created, fmt.Errorf("catalog: serial: %w", err)
	}
	n := 1
	if last != nil {
		fmt.Sscanf((*last)[8:], "%d", &n)
		n++
	}
	if n > catalog.MaxSerialsPerDay {
		return "", created, fmt.Errorf("catalog: archive %s already has %d snapshots on %s: no serial left for the day", archive, catalog.MaxSerialsPerDay, day)
	}
	return fmt.Sprintf("%s%02d", day, n), created, nil
}

// serialFree refuses a serial that is not one, or is in use or withdrawn.
func serialFree(ctx context.Context, tx pgx.Tx, aid int64, archive, serial string) error {
	if !names.Serial(serial) {
		return errdefs.Errorf(errdefs.ErrInvalid, "catalog: %q is not a serial", serial)
	}
	var taken bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM snapshots WHERE archive_id = $1 AND serial = $2)
		OR EXISTS (SELECT 1 FROM withdrawn WHERE archive_id = $1 AND serial = $2)`, aid, serial).Scan(&taken); err != nil {
		return fmt.Errorf("catalog: serial: %w", err)
	}
	if taken {
		return errdefs.Errorf(errdefs.ErrExists, "catalog: %s/%s exists or was withdrawn", archive, serial)
	}
	return nil
}

// suiteState finds or inserts the suite state for su's set of files.
func suiteState(ctx context.Context, tx pgx.Tx, aid int64, su catalog.NewSuite) (int64, error) {
	// The digest catalog/sqlite gives the same state.
	var files strings.Builder
	for _, f := range su.Files {
		fmt.Fprintf(&files, "%s %d %s\n", f.SHA256, f.Size, f.Path)
	}
	idx := make([]byte, 0, len(su.Indices)*32)
	for _, d := range su.Indices {
		idx = append(idx, d[:]...)
	}
	digest := blob.Sum([]byte(files.String() + "\x00" + string(idx) + "\x00" + su.Upstream.String()))
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM suite_states WHERE archive_id = $1 AND suite = $2 AND digest = $3`,
		aid, su.Name, digest[:]).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	if err := tx.QueryRow(ctx, `INSERT INTO suite_states(archive_id, suite, digest, upstream, date, indices)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, aid, su.Name, digest[:], su.Upstream[:], sec(su.UpstreamDate), byteas(su.Indices)).Scan(&id); err != nil {
		return 0, err
	}
	if len(su.Files) == 0 {
		return id, nil
	}
	paths, shas, sizes := make([]string, len(su.Files)), make([][]byte, len(su.Files)), make([]int64, len(su.Files))
	for i, f := range su.Files {
		paths[i], shas[i], sizes[i] = f.Path, f.SHA256[:], f.Size
	}
	_, err = tx.Exec(ctx, `INSERT INTO suite_state_files(state_id, pos, path, sha256, size)
		SELECT $1, u.pos, u.path, u.sha256, u.size FROM unnest($2::text[], $3::bytea[], $4::bigint[]) WITH ORDINALITY AS u(path, sha256, size, pos)`,
		id, paths, shas, sizes)
	return id, err
}

// addIndex records an index of archive aid with its pool files: the
// archive's records of those it knows, new ones (IDs from the sequence,
// written with COPY) for the others.
func addIndex(ctx context.Context, tx pgx.Tx, aid int64, d blob.Digest, entries []catalog.PoolEntry) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM indices WHERE archive_id = $1 AND sha256 = $2`, aid, d[:]).Scan(&one)
	if err == nil {
		return nil // recorded meanwhile
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	keys := make([]int64, len(entries))
	for i, e := range entries {
		keys[i] = codec.PathKey(e.Path)
	}
	// The archive's records of these paths.
	type rec struct {
		id  int64
		sha blob.Digest
	}
	byKey := map[int64][]rec{}
	uniq := slices.Compact(slices.Sorted(slices.Values(keys)))
	rows, err := tx.Query(ctx, `SELECT id, path_key, sha256 FROM pool_files WHERE archive_id = $1 AND path_key = ANY($2)`, aid, uniq)
	if err != nil {
		return err
	}
	var id, key int64
	var sha []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &key, &sha}, func() error {
		d, err := digest(sha)
		if err != nil {
			return err
		}
		byKey[key] = append(byKey[key], rec{id: id, sha: d})
		return nil
	})
	if err != nil {
		return err
	}
	// Those it does not know yet, once each.
	ids := make([]int64, len(entries))
	var fresh []int // indices into entries
EntryLoop:
	for i, e := range entries {
		for _, f := range byKey[keys[i]] {
			if f.sha == e.SHA256 {
				ids[i] = f.id
				continue EntryLoop
			}
		}
		fresh = append(fresh, i)
		byKey[keys[i]] = append(byKey[keys[i]], rec{id: -int64(len(fresh)), sha: e.SHA256}) // a placeholder, numbered from -1
		ids[i] = -int64(len(fresh))
	}
	if len(fresh) > 0 {
		rows, err := tx.Query(ctx, `SELECT nextval(pg_get_serial_sequence('pool_files', 'id')) FROM generate_series(1, $1)`, len(fresh))
		if err != nil {
			return err
		}
		newIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(newIDs) != len(fresh) {
			return fmt.Errorf("%d pool file IDs allocated for %d files", len(newIDs), len(fresh))
		}
		copied, err := tx.CopyFrom(ctx, pgx.Identifier{"pool_files"}, []string{"id", "archive_id", "path_key", "sha256", "size"},
			pgx.CopyFromSlice(len(fresh), func(j int) ([]any, error) {
				e := entries[fresh[j]]
				return []any{newIDs[j], aid, keys[fresh[j]], e.SHA256[:], e.Size}, nil
			}))
		if err != nil {
			return fmt.Errorf("pool files: %w", err)
		}
		if copied != int64(len(fresh)) {
			return fmt.Errorf("pool files: %d of %d written", copied, len(fresh))
		}
		for i, id := range ids {
			if id < 0 {
				ids[i] = newIDs[-id-1]
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	_, err = tx.Exec(ctx, `INSERT INTO indices(archive_id, sha256, members, count) VALUES ($1, $2, $3, $4)`,
		aid, d[:], codec.EncodeIDs(ids), len(ids))
	return err
}
