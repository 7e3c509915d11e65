// Package pgtest gives tests a real PostgreSQL: Start returns the DSN of a
// fresh, empty database on a server of the test binary's own.
//
// The server is started once per test binary, lazily, by the first Start:
// initdb makes a cluster in a temporary directory, and postgres serves it
// on a free loopback port (its unix socket in that directory, fsync off:
// nothing has to survive a crash). Each Start then creates a database of
// its own (CREATE DATABASE, dropped at the test's cleanup), so tests are
// isolated from each other and cost tens of milliseconds, not a cluster
// each.
//
// PostgreSQL refuses to run as root, and tests run as root in CI: as root,
// the cluster belongs to an unprivileged user, APTSNAP_PGTEST_USER if set,
// else the first of aptsnap-test, postgres (made by Debian's package) and
// nobody that exists (the processes are started with that user's
// credentials directly, no su or sudo needed).
//
// The server goes away with the test binary, however it ends: it runs under
// a small shell that the kernel signals when the test process dies
// (Pdeathsig, kept on a thread that never exits), which stops postgres and
// deletes the directory.
//
// Where the PostgreSQL server binaries are missing (initdb and postgres, on
// PATH or in /usr/lib/postgresql/*/bin, or in APTSNAP_PG_BINDIR), Start
// skips the test, unless APTSNAP_REQUIRE_POSTGRES is set (CI), where it
// fails it. scripts/start-postgres starts the same kind of server for a
// human.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireEnv, when set to anything, makes missing PostgreSQL binaries a
// failure instead of a skip.
const RequireEnv = "APTSNAP_REQUIRE_POSTGRES"

var (
	mu       sync.Mutex
	srv      *server // the binary's server, once started
	startErr error   // why it could not start, once tried
	missing  string  // why there are no binaries, once looked for
	dbSeq    int
)

// Start returns the DSN (a postgres:// URL, no password) of a new, empty
// database, dropped when t ends. The server is started on first use.
func Start(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if srv == nil && startErr == nil && missing == "" {
		bin, why := lookup()
		if why != "" {
			missing = why
		} else {
			srv, startErr = startServer(bin)
		}
	}
	if missing != "" {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("pgtest: %s (%s is set: PostgreSQL is required)", missing, RequireEnv)
		} else {
			t.Skipf("pgtest: %s: skipped (set %s=1 to make this a failure)", missing, RequireEnv)
		}
		return ""
	}
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
		return ""
	}
	dbSeq++
	name := fmt.Sprintf("test_%d", dbSeq)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := srv.admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := srv.admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return srv.dsn(name)
}

// Terminate ends the sessions of the database dsn names (those of the
// given backend PIDs, or all of them), as PostgreSQL does when their
// clients die or vanish, for tests of what survives that.
func Terminate(t testing.TB, dsn string, pids ...int32) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`
	args := []any{cfg.Database}
	if len(pids) > 0 {
		q += ` AND pid = ANY($2)`
		args = append(args, pids)
	}
	if _, err := srv.admin.Exec(ctx, q, args...); err != nil {
		t.Fatalf("pgtest: terminate sessions: %v", err)
	}
}

// NoPasswordInErrors checks that open fails on DSNs it cannot use (no
// server listening, a bad setting, a malformed URL; no server needed),
// without the DSN's password in its error. open returns what closes what
// it opened, should it succeed.
func NoPasswordInErrors(t testing.TB, open func(dsn string) (done func(), err error)) {
	t.Helper()
	const pw = "s3cr3t-pa55"
	for _, dsn := range []string{
		"postgres://aptsnap:" + pw + "@127.0.0.1:1/aptsnap?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=aptsnap password=" + pw + " dbname=aptsnap sslmode=disable connect_timeout=2",
		"postgres://aptsnap:" + pw + "@127.0.0.1:1/aptsnap?sslmode=bogus",
		"postgres://aptsnap:" + pw + "@[::1:5432/aptsnap",
		"postgres://aptsnap@127.0.0.1:1/aptsnap?password=" + pw + "&sslmode=bogus",
	} {
		done, err := open(dsn)
		if err == nil {
			done()
			t.Errorf("opening %q succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("an error shows the password: %v", err)
		}
	}
}

// lookup finds the binaries (tests replace it).
var lookup = findBinaries

// binaries is where initdb and postgres are.
type binaries struct{ dir string }

func (b binaries) path(name string) string { return filepath.Join(b.dir, name) }

// findBinaries looks for initdb and postgres side by side, or says why
// there are none.
func findBinaries() (binaries, string) {
	var dirs []string
	if d := os.Getenv("APTSNAP_PG_BINDIR"); d != "" {
		dirs = append(dirs, d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	// Debian keeps the server's binaries off PATH, one directory per
	// major version: the newest first.
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(debian, func(a, b string) int { return version(b) - version(a) })
	dirs = append(dirs, debian...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return binaries{dir: d}, ""
		}
	}
	return binaries{}, "no PostgreSQL server binaries (initdb and postgres, looked for in APTSNAP_PG_BINDIR, on PATH and in /usr/lib/postgresql/*/bin): " +
		"install Debian's postgresql package (scripts/install-deps does)"
}

// version is the major version of a /usr/lib/postgresql/N/bin directory.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// server is the test binary's PostgreSQL.
type server struct {
	port  int
	admin *pgx.Conn // to the postgres database, for CREATE DATABASE
}

func (s *server) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// owner is who the cluster runs as: nil for the current user.
func owner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	names := []string{"aptsnap-test", "postgres", "nobody"}
	if n := os.Getenv("APTSNAP_PGTEST_USER"); n != "" {
		names = []string{n}
	}
	var errs []error
	for _, n := range names {
		u, err := user.Lookup(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			errs = append(errs, fmt.Errorf("user %s: uid %s, gid %s: not usable", n, u.Uid, u.Gid))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: false, Groups: []uint32{}}, nil
	}
	return nil, fmt.Errorf("running as root, and no unprivileged user to run PostgreSQL as: %w", errors.Join(errs...))
}

func startServer(bin binaries) (*server, error) {
	cred, err := owner()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempRoot(cred), "aptsnap-pgtest-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(bin.path("initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb (as uid %d): %v\n%s", uid(cred), err, out)
	}
	var lastErr error
	for range 5 { // another process may take the free port first
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := run(bin, cred, dir, port)
		if err == nil {
			ok = true
			return s, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "already in use") {
			break
		}
	}
	return nil, lastErr
}

// tempRoot is where the cluster's directory goes: the temporary
// directory, unless the cluster's user could not reach it (a TMPDIR in
// root's home), then /tmp.
func tempRoot(cred *syscall.Credential) string {
	root := os.TempDir()
	if cred == nil {
		return root
	}
	for d := root; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return root
		}
	}
}

func uid(c *syscall.Credential) int {
	if c == nil {
		return os.Geteuid()
	}
	return int(c.Uid)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// wrapper runs postgres ("$@") and, when signalled (the test binary died
// or ended), stops it at once and deletes the cluster's directory ($1).
// When postgres ends on its own (it could not start), it leaves the
// directory for the test binary to read the log.
const wrapper = `dir=$1; shift
"$@" & pid=$!
trap 'kill -QUIT $pid 2>/dev/null; wait $pid; rm -rf "$dir"; exit 0' TERM INT HUP
wait $pid`

// run starts postgres on port and waits until it accepts connections.
func run(bin binaries, cred *syscall.Credential, dir string, port int) (*server, error) {
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("/bin/sh", "-c", wrapper, "pgtest", dir, bin.path("postgres"),
		"-D", filepath.Join(dir, "data"),
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
		"-c", "dynamic_shared_memory_type=mmap",
		"-c", "log_min_messages=warning",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGTERM to the wrapper when the thread that started it ends: the
	// thread is locked and never ends before the process does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM, Setpgid: true}
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		started <- cmd.Start()
		select {}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s := &server{port: port}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.dsn("postgres"))
		cancel()
		if err == nil {
			s.admin = conn
			return s, nil
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("postgres exited (%v) before accepting connections: %s", werr, tail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			return nil, fmt.Errorf("postgres did not accept connections within a minute: %v: %s", err, tail(logPath))
		}
	}
}

// tail is the end of a log file, for an error.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
