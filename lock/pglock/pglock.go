// Package pglock is lock.Locker across hosts, on PostgreSQL session
// advisory locks: the servers of one installation sharing a catalog (and
// a store) keep out of each other's way as processes on one host do with
// lock.Flock. It also elects the one server that runs the pulse schedule
// and garbage collection (Leader).
//
// Each lock held is a PostgreSQL session of its own (a dedicated
// connection, not one of a pool): the lock lasts as long as the session,
// so it is released when its holder releases it, and also when its
// process dies or its host vanishes, as PostgreSQL ends the session:
//
//   - at once when the holder's process dies (its kernel closes the
//     connection);
//   - when the holder's host or network vanishes, once TCP keepalive
//     gives up on it: the sessions ask the server for keepalive probes
//     after 10 s idle, every 5 s, 3 of them (tcp_keepalives_idle,
//     _interval, _count), so about 25 s after the holder last spoke
//     (held locks speak every Heartbeat, 5 s by default). A DSN setting
//     these parameters overrides them.
//
// A held lock checks its session every Heartbeat (a ping answered within
// Heartbeat) and reports its loss on Lost: a holder of a lock whose
// session ended (the server restarted, an administrator terminated it,
// the network failed) no longer holds it, and whatever it protects must
// stop. The holder learns of a loss within about two Heartbeats (10 s),
// before the server frees the lock for another (about 25 s after the
// last ping, see above), as long as clocks run at the same speed.
//
// The locks, in the advisory lock space of the database (the two-key
// form, classes "aptl" and "aptw", so that they meet neither the
// catalog's own nor anybody else's):
//
//	(aptl, 1)  the sweep lock: shared by writers, exclusive for GC
//	(aptl, 2)  the GC lock, only ever tried (lock.ErrBusy)
//	(aptl, 3)  the leader lease (Leader)
//	(aptw, K)  the writer lock of the archive whose key is K in lock_writers
//
// lock_writers gives each archive a key (no hash to collide) and records,
// per archive, the backend PID and start time of its last writer;
// Writers reports the writer locks that sessions hold (pg_locks) with
// the start their holder recorded, so that a row left by a dead session
// counts for nothing, and a writer that holds its lock but has not
// recorded its start yet counts as the zero time. Start times are the
// writer host's clock, as GC compares them with the store's file times:
// keep the hosts' clocks synchronized (NTP).
package pglock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aptsnap/aptsnap/internal/pgdsn"
	"github.com/aptsnap/aptsnap/lock"
)

// Advisory lock classes and keys (see the package doc).
const (
	fixedClass  = 0x6170746c // "aptl"
	writerClass = 0x61707477 // "aptw"

	sweepKey  = 1
	gcKey     = 2
	leaderKey = 3
	schemaKey = 4 // keeps the creation of lock_writers to one server
)

// DefaultHeartbeat is how often a held lock checks its session.
const DefaultHeartbeat = 5 * time.Second

// Locker is lock.Locker on one PostgreSQL database, for any number of
// processes on any number of hosts.
type Locker struct {
	cfg      *pgx.ConnConfig // of each lock's own session
	pool     *pgxpool.Pool   // for Writers and writer keys
	password string          // to scrub from errors

	// Heartbeat is how often a lock taken from now on checks that its
	// session is alive, and how long it waits for the answer
	// (DefaultHeartbeat if zero).
	Heartbeat time.Duration

	mu   sync.Mutex
	keys map[string]int32 // writer keys by archive
}

var _ lock.Locker = (*Locker)(nil)

// New returns the Locker on the database dsn names (a postgres:// URL or
// key=value string, as libpq's), creating its table if needed. Close it
// when done; locks it gave stay held until released.
func New(ctx context.Context, dsn string) (*Locker, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lock: postgres: %w", pgdsn.Scrub(err, pgdsn.PasswordOf(dsn)))
	}
	l := &Locker{cfg: cfg, password: cfg.Password, keys: map[string]int32{}}
	for k, v := range map[string]string{
		"application_name":        "aptsnap lock",
		"tcp_keepalives_idle":     "10",
		"tcp_keepalives_interval": "5",
		"tcp_keepalives_count":    "3",
	} {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	// The client side of the same: a server gone silent fails a ping
	// rather than hang it.
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = dialer.DialContext
	// A wait given up is cancelled on the server at once (a cancel
	// request), rather than left queued there until the lock comes.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lock: postgres: %w", pgdsn.Scrub(err, l.password))
	}
	pcfg.MaxConns = 4
	if l.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, l.wrap("postgres", err)
	}
	if err := l.setup(ctx); err != nil {
		l.pool.Close()
		return nil, l.wrap("setup", err)
	}
	return l, nil
}

// setup creates lock_writers, once whatever the number of servers
// starting at once.
func (l *Locker) setup(ctx context.Context) error {
	return pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, fixedClass, schemaKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS lock_writers (
			key     integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
			archive text NOT NULL UNIQUE,
			pid     integer,
			started timestamptz
		)`)
		return err
	})
}

// Close closes the Locker's pool. Locks it gave are not released.
func (l *Locker) Close() { l.pool.Close() }

func (l *Locker) heartbeat() time.Duration {
	if l.Heartbeat > 0 {
		return l.Heartbeat
	}
	return DefaultHeartbeat
}

// wrap prefixes err with what failed, scrubbed of the password.
func (l *Locker) wrap(what string, err error) error {
	return fmt.Errorf("lock: %s: %w", what, pgdsn.Scrub(err, l.password))
}

// Lock is a held lock: a PostgreSQL session holding an advisory lock.
type Lock struct {
	conn    *pgx.Conn
	stop    context.CancelFunc
	done    chan struct{} // closed once the session is closed
	lost    chan struct{}
	release sync.Once
}

var _ lock.Lock = (*Lock)(nil)

// Release implements lock.Lock: the lock is released (the session ends)
// when it returns.
func (k *Lock) Release() {
	k.release.Do(func() {
		k.stop()
		<-k.done
	})
}

// Lost is closed when the lock was lost without Release: its session
// ended (see the package doc). It stays open after Release.
func (k *Lock) Lost() <-chan struct{} { return k.lost }

// watch pings the session every heartbeat until the lock is released,
// then releases the lock and closes the session.
func (k *Lock) watch(released context.Context, every time.Duration) {
	defer close(k.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-released.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			// Unlocked before Release returns; closing alone would have
			// the server release it a moment later.
			k.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
			k.conn.Close(ctx)
			cancel()
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			err := k.conn.Ping(ctx)
			cancel()
			if err != nil {
				close(k.lost)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				k.conn.Close(ctx)
				cancel()
				return
			}
		}
	}
}

// closeConn closes a session that holds nothing worth keeping.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// take opens a session and takes the lock (class, key) in it: with wait,
// blocking until it gets it or ctx ends; without, trying once (ErrBusy).
// what names the lock in errors.
func (l *Locker) take(ctx context.Context, what string, class, key int32, exclusive, wait bool, then func(*pgx.Conn) error) (*Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock: %s: given up: %w", what, err)
	}
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, l.given(ctx, what, err)
	}
	fn := "pg_advisory_lock"
	if !exclusive {
		fn += "_shared"
	}
	if !wait {
		fn = strings.Replace(fn, "pg_", "pg_try_", 1)
	}
	got := true
	if wait {
		_, err = conn.Exec(ctx, `SELECT `+fn+`($1, $2)`, class, key)
	} else {
		err = conn.QueryRow(ctx, `SELECT `+fn+`($1, $2)`, class, key).Scan(&got)
	}
	if err == nil && !got {
		err = lock.ErrBusy
	}
	if err == nil && then != nil {
		err = then(conn)
	}
	if err != nil {
		// Closing the session releases whatever it got meanwhile.
		closeConn(conn)
		if errors.Is(err, lock.ErrBusy) {
			return nil, err
		}
		return nil, l.given(ctx, what, err)
	}
	released, stop := context.WithCancel(context.Background())
	k := &Lock{conn: conn, stop: stop, done: make(chan struct{}), lost: make(chan struct{})}
	go k.watch(released, l.heartbeat())
	return k, nil
}

// given is the error of a lock not taken: the context's, when it ended.
func (l *Locker) given(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("lock: %s: given up: %w", what, ctx.Err())
	}
	return l.wrap(what, err)
}

// writerKey returns the key of an archive's writer lock, recording one
// the first time.
func (l *Locker) writerKey(ctx context.Context, archive string) (int32, error) {
	l.mu.Lock()
	key, ok := l.keys[archive]
	l.mu.Unlock()
	if ok {
		return key, nil
	}
	err := l.pool.QueryRow(ctx, `SELECT key FROM lock_writers WHERE archive = $1`, archive).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		// Of two servers recording it at once, the second finds the first's.
		if _, err = l.pool.Exec(ctx, `INSERT INTO lock_writers(archive) VALUES ($1) ON CONFLICT (archive) DO NOTHING`, archive); err == nil {
			err = l.pool.QueryRow(ctx, `SELECT key FROM lock_writers WHERE archive = $1`, archive).Scan(&key)
		}
	}
	if err != nil {
		return 0, l.given(ctx, "writer lock of "+archive, err)
	}
	l.mu.Lock()
	l.keys[archive] = key
	l.mu.Unlock()
	return key, nil
}

// Writer implements lock.Locker. The lock is the archive's advisory lock;
// once taken, its session records its PID and start in lock_writers.
func (l *Locker) Writer(ctx context.Context, archive string, wait bool) (lock.Lock, error) {
	what := "writer lock of " + archive
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock: %s: given up: %w", what, err)
	}
	key, err := l.writerKey(ctx, archive)
	if err != nil {
		return nil, err
	}
	k, err := l.take(ctx, what, writerClass, key, true, wait, func(conn *pgx.Conn) error {
		// Real time, not a test's clock: GC compares it with file times.
		_, err := conn.Exec(ctx, `UPDATE lock_writers SET pid = pg_backend_pid(), started = $2 WHERE key = $1`, key, time.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Sweep implements lock.Locker.
func (l *Locker) Sweep(ctx context.Context, exclusive bool) (lock.Lock, error) {
	k, err := l.take(ctx, "sweep lock", fixedClass, sweepKey, exclusive, true, nil)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// GC implements lock.Locker.
func (l *Locker) GC(ctx context.Context) (lock.Lock, error) {
	k, err := l.take(ctx, "GC lock", fixedClass, gcKey, true, false, nil)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Leader waits until this process leads: holds the installation's leader
// lease, which one session at a time holds, until ctx ends. A leader runs
// what exactly one server may run at a time (the pulse schedule, GC). It
// leads until it releases the lease or Lost is closed: when its session
// ends (see the package doc), another server waiting in Leader takes
// over, at once when the leader's process died, within about 25 s when
// its host vanished. A leader must stop leading as soon as Lost is
// closed, and may call Leader again. Leader returns an error when its
// session fails while it waits (the database restarted): wait a little,
// and call it again.
//
// A lease is no fence: a leader cut off from the database learns of it
// on Lost within about two Heartbeats, before another can take over (see
// the package doc), but what it does meanwhile elsewhere (the store) is
// not stopped by the database. The catalog's own transactions keep
// concurrent leaders harmless (two GCs, two pulses of an archive are
// serialized there, and the GC lock is taken besides).
func (l *Locker) Leader(ctx context.Context) (*Lock, error) {
	return l.take(ctx, "leader lease", fixedClass, leaderKey, true, true, nil)
}

// Writers implements lock.Locker: every writer lock a session holds, with
// the start its holder recorded (the zero time if not yet).
func (l *Locker) Writers(ctx context.Context) ([]time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock: looking for running writers: given up: %w", err)
	}
	rows, err := l.pool.Query(ctx, `SELECT w.started FROM pg_locks k
		LEFT JOIN lock_writers w ON w.key = k.objid::bigint AND w.pid = k.pid
		WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 2 AND k.classid::bigint = $1
		AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())`, int64(writerClass))
	if err != nil {
		return nil, l.given(ctx, "looking for running writers", err)
	}
	starts, err := pgx.CollectRows(rows, pgx.RowTo[*time.Time])
	if err != nil {
		return nil, l.given(ctx, "looking for running writers", err)
	}
	out := make([]time.Time, 0, len(starts))
	for _, s := range starts {
		if s == nil {
			out = append(out, time.Time{}) // started, not recorded yet: protect everything
		} else {
			out = append(out, s.UTC())
		}
	}
	return out, nil
}
