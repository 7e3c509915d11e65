// Package s3test runs a real S3 server for tests: VersityGW's POSIX
// gateway (versitygw posix) over a temporary directory, on loopback.
//
// One server is started per test binary, on first use, and each call to
// Start gets a fresh, empty bucket of its own, removed when the test
// ends. The server dies with the test binary (Pdeathsig), also when the
// binary is killed.
//
// The versitygw binary is looked for in $VERSITYGW, then on PATH, then in
// $GOBIN, $GOPATH/bin and ~/go/bin; scripts/install-deps installs it with
// `go install github.com/versity/versitygw/cmd/versitygw@` + Version. If it
// is missing, tests that need it are skipped, or fail when
// APTSNAP_REQUIRE_S3 is set (as CI sets it).
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the versitygw release the tests are written against.
const Version = "v1.8.0"

// Endpoint is where a test's bucket is served.
type Endpoint struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	// Host is URL's host:port.
	Host                 string
	AccessKey, SecretKey string
	// Bucket is empty and this test's alone.
	Bucket string
	Region string
	// Root is the directory the server keeps its buckets in: the bucket's
	// objects are files under Root/Bucket.
	Root string
}

// The server's credentials: made up for each test binary, only valid on
// loopback for its life.
const region = "us-east-1"

type server struct {
	url, host, root      string
	accessKey, secretKey string
	out                  *syncBuffer
	client               *minio.Client
	err                  error
}

var (
	once   sync.Once
	shared *server
)

// Need skips the test if the versitygw binary is missing, or fails it if
// APTSNAP_REQUIRE_S3 is set, and returns the binary's path.
func Need(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("APTSNAP_REQUIRE_S3") != "" {
			t.Fatalf("s3test: %v (APTSNAP_REQUIRE_S3 is set)", err)
		}
		t.Skipf("s3test: %v: skipping the S3 tests (set APTSNAP_REQUIRE_S3=1 to fail instead)", err)
	}
	return bin
}

// Start returns an endpoint with a fresh bucket, starting the server if
// this test binary has none yet (see Need for a missing server).
func Start(t testing.TB) Endpoint {
	t.Helper()
	bin := Need(t)
	once.Do(func() { shared = start(bin) })
	if shared.err != nil {
		t.Fatalf("s3test: %v", shared.err)
	}
	s := shared
	bucket := "test-" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		t.Fatalf("s3test: make bucket: %v\nversitygw output:\n%s", err, s.out)
	}
	t.Cleanup(func() {
		// The POSIX gateway keeps a bucket as a directory (and its
		// incomplete uploads in a hidden one inside it): removing it is
		// removing the bucket, whatever is in it.
		os.RemoveAll(filepath.Join(s.root, bucket))
	})
	return Endpoint{URL: s.url, Host: s.host, AccessKey: s.accessKey, SecretKey: s.secretKey,
		Bucket: bucket, Region: region, Root: s.root}
}

// Output returns what the shared server printed so far (for a failing
// test's log), or "" if none runs.
func Output() string {
	if shared == nil || shared.out == nil {
		return ""
	}
	return shared.out.String()
}

// Binary returns the path of the versitygw binary, or an error saying how
// to install it.
func Binary() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if isExec(p) {
			return p, nil
		}
		return "", fmt.Errorf("$VERSITYGW=%s is not an executable", p)
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		for _, d := range filepath.SplitList(gp) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "versitygw"); isExec(p) {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found on PATH nor in GOBIN, GOPATH/bin, ~/go/bin " +
		"(scripts/install-deps installs it: go install github.com/versity/versitygw/cmd/versitygw@" + Version + ")")
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// rootPrefix names the servers' directories, with the test binary's pid,
// so that a later binary removes those of binaries that died.
const rootPrefix = "aptsnap-s3test-"

// start starts the shared server; its error is in err.
func start(bin string) *server {
	removeStale()
	root, err := os.MkdirTemp("", rootPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return &server{err: err}
	}
	s := &server{root: root, accessKey: "AK" + randomHex(9), secretKey: randomHex(20), out: &syncBuffer{}}
	// A port picked free may be taken before the server binds it: a few
	// tries.
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			s.err = err
			return s
		}
		if s.err = s.run(bin, port); s.err == nil {
			break
		}
	}
	if s.err != nil {
		return s
	}
	s.client, s.err = minio.New(s.host, &minio.Options{
		Creds:  credentials.NewStaticV4(s.accessKey, s.secretKey, ""),
		Region: region,
	})
	return s
}

// run starts versitygw on port and waits until it answers.
func (s *server) run(bin string, port int) error {
	s.host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.url = "http://" + s.host
	cmd := exec.Command(bin, "--quiet", "--port", s.host, "--region", region, "posix", s.root)
	// Credentials go by environment, not on the command line that ps shows.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.accessKey, "ROOT_SECRET_ACCESS_KEY="+s.secretKey)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the thread that started the child ends, not the
	// process: start it from a goroutine locked to its thread, which lives
	// as long as the child.
	started := make(chan error)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited: %v\n%s", err, s.out)
		default:
		}
		// Any HTTP answer (403 without credentials) means it serves.
		if resp, err := hc.Get(s.url + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return fmt.Errorf("versitygw did not answer on %s within 30s\n%s", s.host, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeStale removes the directories of servers whose test binary is
// gone (their servers died with them).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), rootPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), rootPrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer is the server's output, kept to its last 64 KiB.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if n := b.buf.Len(); n > 64<<10 {
		b.buf.Next(n - 64<<10)
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
