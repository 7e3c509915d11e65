package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aptsnap/aptsnap/config"
)

// Installer obtains and renews the certificates of [[tls.install]] (a web
// server in front of aptsnap) through [tls.acme]'s CA and installs them.
//
// certmagic manages one certificate per name; a virtual host with several
// names (server_name a b) presents one certificate, so the Installer keeps
// one certificate per entry, for all its names, itself: certmagic's ACME
// issuer obtains it from a CSR naming them (HTTP-01 answered by aptsnap's
// plain listener, HTTPHandler, to which the web server proxies
// /.well-known/acme-challenge/), under the storage's lock so that servers
// sharing storage obtain it once; it is renewed when a third of its
// lifetime is left, or when the entry's names change. The chain and key
// are kept together in one storage value, so no reader sees a key of
// another certificate.
//
// After each certificate obtained or renewed, and until the files match
// what storage holds, it writes the chain and the key atomically, runs the
// entry's test command and then its reload command; a failure of either
// restores the previous files, is logged with the command's output,
// recorded (Status, metrics) and retried every RetryInterval.
type Installer struct {
	entries []config.Install
	log     *slog.Logger
	storage certmagic.Storage
	cache   *certmagic.Cache
	magic   *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	retry   time.Duration
	wake    chan struct{}
	stop    chan struct{}
	once    sync.Once
	done    sync.WaitGroup

	obtainMu sync.Mutex           // one obtain at a time in this process
	syncMu   sync.Mutex           // one install at a time: the entries share a web server
	reloaded map[string]time.Time // when each reload command last ran (under syncMu)
	mu       sync.Mutex
	state    map[string]*InstallStatus
}

// InstallOptions tune an Installer.
type InstallOptions struct {
	// Storage overrides the FileStorage in the directory given to NewInstaller.
	Storage certmagic.Storage
	// HTTPAddr is where aptsnap's plain listener listens (HTTP-01 is
	// answered there, through HTTPHandler).
	HTTPAddr net.Addr
	// RetryInterval is how often renewal is considered and files that
	// differ from storage (a failed install) are tried again; a failed
	// obtain waits twice as long after each failure, up to a day.
	// Default a minute.
	RetryInterval time.Duration
}

// InstallStatus is the state of one [[tls.install]] entry.
type InstallStatus struct {
	Name     string   `json:"name"`
	Names    []string `json:"names"`
	Server   string   `json:"server"`
	CertPath string   `json:"cert_path"`
	KeyPath  string   `json:"key_path"`
	// Serial and NotAfter are those of the certificate installed last.
	Serial   string    `json:"serial,omitempty"`
	NotAfter time.Time `json:"not_after"`
	// LastAttempt and LastSuccess are when an install was tried, and
	// when one last succeeded.
	LastAttempt time.Time `json:"last_attempt"`
	LastSuccess time.Time `json:"last_success"`
	// Error and Output describe the last attempt's failure ("" on success).
	Error  string `json:"error,omitempty"`
	Output string `json:"output,omitempty"`
	// ObtainError is why the CA gave no certificate at the last try ("" once
	// one was obtained); NextObtain is when it is tried again.
	ObtainError string    `json:"obtain_error,omitempty"`
	NextObtain  time.Time `json:"next_obtain"`
	// Failures counts the failed installs, ObtainFailures the failed
	// obtains and renewals, since the server started.
	Failures       int `json:"-"`
	ObtainFailures int `json:"-"`
	// Missing is set when storage holds no certificate for Name yet.
	Missing bool `json:"-"`
}

// NewInstaller makes the Installer of cfg's [[tls.install]] (nil if there
// is none), keeping its state in dir unless opts.Storage is set. Nothing
// is obtained until Start.
func NewInstaller(cfg *config.TLS, dir string, log *slog.Logger, opts InstallOptions) (*Installer, error) {
	if cfg == nil || len(cfg.Install) == 0 {
		return nil, nil
	}
	if cfg.ACME == nil {
		return nil, errors.New("tls.install needs [tls.acme]")
	}
	if log == nil {
		log = slog.Default()
	}
	in := &Installer{entries: cfg.Install, log: log.With("component", "tls-install"), storage: opts.Storage,
		retry: opts.RetryInterval, wake: make(chan struct{}, 1), stop: make(chan struct{}), state: map[string]*InstallStatus{},
		reloaded: map[string]time.Time{}}
	if in.retry <= 0 {
		in.retry = time.Minute
	}
	if in.storage == nil {
		in.storage = &certmagic.FileStorage{Path: dir}
	}
	cache, magic, tmpl, err := newMagic(cfg.ACME, in.storage, log.With("component", "acme-install"), 0, nil)
	if err != nil {
		return nil, err
	}
	in.cache, in.magic = cache, magic
	tmpl.DisableTLSALPNChallenge = true
	if host, port, ok := hostPort(opts.HTTPAddr); ok {
		tmpl.ListenHost, tmpl.AltHTTPPort = host, port
	}
	in.issuer = certmagic.NewACMEIssuer(in.magic, tmpl)
	in.magic.Issuers = []certmagic.Issuer{in.issuer}
	for _, e := range in.entries {
		in.state[e.Name] = &InstallStatus{Name: e.Name, Names: e.Names, Server: e.Server, CertPath: e.CertPath, KeyPath: e.KeyPath}
	}
	return in, nil
}

func (in *Installer) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// HTTPHandler wraps the plain listener's handler so that it answers the
// HTTP-01 challenges of the installed names.
func (in *Installer) HTTPHandler(h http.Handler) http.Handler {
	if in == nil {
		return h
	}
	return in.issuer.HTTPChallengeHandler(h)
}

// Start obtains the missing certificates in the background (the plain
// listener must be serving), renews them from then on, and installs each
// one obtained.
func (in *Installer) Start(ctx context.Context) error {
	in.loadState(ctx)
	in.mu.Lock()
	for _, st := range in.state {
		st.NextObtain = time.Time{} // a start tries a failed obtain again at once
	}
	in.mu.Unlock()
	in.done.Go(func() { in.loop(ctx) })
	return nil
}

// Obtain is Start, but first obtains every missing certificate and
// installs it, returning the first failure.
func (in *Installer) Obtain(ctx context.Context) error {
	in.loadState(ctx)
	for _, e := range in.entries {
		if _, err := in.ensure(ctx, e, false); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	in.done.Go(func() { in.loop(ctx) })
	return in.Sync(ctx)
}

// Stop ends renewal and installs.
func (in *Installer) Stop() {
	if in == nil {
		return
	}
	in.once.Do(func() {
		close(in.stop)
		in.cache.Stop()
	})
	in.done.Wait()
}

// Renew renews every entry's certificate now (force: even if not due),
// then installs.
func (in *Installer) Renew(ctx context.Context, force bool) error {
	var errs []error
	for _, e := range in.entries {
		if _, err := in.ensure(ctx, e, force); err != nil {
			errs = append(errs, fmt.Errorf("renew %s: %w", e.Name, err))
		}
	}
	if err := in.Sync(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (in *Installer) loop(ctx context.Context) {
	t := time.NewTicker(in.retry)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-in.stop:
				return
			case <-t.C:
			case <-in.wake:
			}
		}
		for _, e := range in.entries {
			in.mu.Lock()
			wait := time.Until(in.state[e.Name].NextObtain)
			in.mu.Unlock()
			if wait > 0 {
				continue
			}
			if _, err := in.ensure(ctx, e, false); err != nil && ctx.Err() == nil {
				in.log.Error("obtaining a certificate", "name", e.Name, "names", e.Names, "err", err)
			}
		}
		if err := in.Sync(ctx); err != nil && ctx.Err() == nil {
			in.log.Error("installing certificates", "err", err)
		}
	}
}

// bundle is what storage keeps of an entry's certificate: the chain and
// its key in one value.
type bundle struct {
	Names []string `json:"names"`
	Cert  []byte   `json:"cert"` // PEM, leaf first
	Key   []byte   `json:"key"`  // PEM
}

func bundleKey(name string) string { return "aptsnap/tls-install/" + name + "/bundle.json" }
func lockKey(name string) string   { return "aptsnap-tls-install-" + name }

func (in *Installer) load(ctx context.Context, name string) (*bundle, *x509.Certificate, error) {
	return loadBundle(ctx, in.storage, name)
}

func loadBundle(ctx context.Context, storage certmagic.Storage, name string) (*bundle, *x509.Certificate, error) {
	b, err := storage.Load(ctx, bundleKey(name))
	if err != nil {
		return nil, nil, err
	}
	var bd bundle
	if err := json.Unmarshal(b, &bd); err != nil {
		return nil, nil, fmt.Errorf("certificate of %s in storage: %w", name, err)
	}
	leaf, err := firstCert(bd.Cert)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate of %s in storage: %w", name, err)
	}
	return &bd, leaf, nil
}

// due reports whether the certificate must be replaced: other names than
// the entry's, or a third of its lifetime left.
func due(e config.Install, bd *bundle, leaf *x509.Certificate, now time.Time) bool {
	a, b := slices.Clone(e.Names), slices.Clone(bd.Names)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return true
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotAfter.Sub(now) < life/3
}

// ensure obtains a certificate for e's names when storage holds none for
// them, when the one it holds is due, or when force is set; it reports
// whether it obtained one.
func (in *Installer) ensure(ctx context.Context, e config.Install, force bool) (bool, error) {
	held, before, err := in.load(ctx, e.Name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err == nil && !force && !due(e, held, before, time.Now()) {
		return false, nil
	}
	in.obtainMu.Lock()
	defer in.obtainMu.Unlock()
	if err := in.storage.Lock(ctx, lockKey(e.Name)); err != nil {
		return false, fmt.Errorf("locking the certificate of %s: %w", e.Name, err)
	}
	defer in.storage.Unlock(context.WithoutCancel(ctx), lockKey(e.Name))
	// Another server (or call) may have obtained it while we waited.
	if bd, leaf, err := in.load(ctx, e.Name); err == nil {
		if !force && !due(e, bd, leaf, time.Now()) {
			return false, nil
		}
		if force && before != nil && leaf.SerialNumber.Cmp(before.SerialNumber) != 0 {
			return false, nil
		}
	}
	bd, leaf, err := in.obtain(ctx, e.Names)
	in.mu.Lock()
	st := in.state[e.Name]
	if err != nil {
		st.ObtainFailures++
		st.ObtainError = err.Error()
		backoff := in.retry << min(st.ObtainFailures, 20)
		st.NextObtain = time.Now().Add(min(backoff, 24*time.Hour))
		cp := *st
		in.mu.Unlock()
		in.saveState(ctx, &cp)
		return false, err
	}
	cleared := st.ObtainError != ""
	st.ObtainError, st.NextObtain = "", time.Time{}
	cp := *st
	in.mu.Unlock()
	if cleared {
		in.saveState(ctx, &cp)
	}
	b, _ := json.Marshal(bd)
	if err := in.storage.Store(ctx, bundleKey(e.Name), b); err != nil {
		return false, fmt.Errorf("storing the certificate of %s: %w", e.Name, err)
	}
	in.log.Info("certificate obtained", "name", e.Name, "names", e.Names, "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
	in.poke()
	return true, nil
}

// obtain has the CA issue a certificate for names, on a new P-256 key.
func (in *Installer) obtain(ctx context.Context, names []string) (*bundle, *x509.Certificate, error) {
	if err := in.issuer.PreCheck(ctx, names, false); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	issued, err := in.issuer.Issue(ctx, csr)
	if err != nil {
		return nil, nil, fmt.Errorf("the CA issued no certificate for %s: %w", strings.Join(names, ", "), err)
	}
	leaf, err := firstCert(issued.Certificate)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &bundle{Names: names, Cert: issued.Certificate, Key: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})}, leaf, nil
}

// Sync installs every entry whose files differ from the certificate
// storage holds (a failed one only once RetryInterval has passed since).
func (in *Installer) Sync(ctx context.Context) error {
	in.syncMu.Lock()
	defer in.syncMu.Unlock()
	var errs []error
	for _, e := range in.entries {
		if err := in.syncOne(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (in *Installer) syncOne(ctx context.Context, e config.Install) error {
	bd, leaf, err := in.load(ctx, e.Name)
	if errors.Is(err, os.ErrNotExist) {
		return nil // not obtained yet
	}
	if err != nil {
		return err
	}
	certPEM, keyPEM := bd.Cert, bd.Key
	oldCert, certErr := os.ReadFile(e.CertPath)
	oldKey, keyErr := os.ReadFile(e.KeyPath)
	in.mu.Lock()
	st := in.state[e.Name]
	if certErr == nil && keyErr == nil && bytes.Equal(oldCert, certPEM) && bytes.Equal(oldKey, keyPEM) {
		changed := st.Serial != leaf.SerialNumber.String() || st.Error != ""
		if changed {
			st.Serial, st.NotAfter, st.Error, st.Output = leaf.SerialNumber.String(), leaf.NotAfter, "", ""
			if st.LastSuccess.IsZero() {
				st.LastSuccess = time.Now()
			}
		}
		in.mu.Unlock()
		if changed {
			in.saveState(ctx, st)
		}
		return nil
	}
	if st.Error != "" && time.Since(st.LastAttempt) < in.retry {
		in.mu.Unlock()
		return nil // failed lately: retried later
	}
	in.mu.Unlock()

	out, ierr := in.install(ctx, e, certPEM, keyPEM, oldCert, certErr, oldKey, keyErr)
	in.mu.Lock()
	st.LastAttempt = time.Now()
	if ierr != nil {
		st.Error, st.Output = ierr.Error(), out
		st.Failures++
	} else {
		st.Error, st.Output = "", ""
		st.LastSuccess, st.Serial, st.NotAfter = st.LastAttempt, leaf.SerialNumber.String(), leaf.NotAfter
	}
	cp := *st
	in.mu.Unlock()
	in.saveState(ctx, &cp)
	if ierr != nil {
		in.log.Error("certificate not installed; the previous files stay", "name", e.Name, "server", e.Server,
			"err", ierr, "output", out, "retry_in", in.retry)
		return ierr
	}
	in.log.Info("certificate installed", "name", e.Name, "server", e.Server, "cert_path", e.CertPath,
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
	return nil
}

// install writes the files, tests and reloads; on a failure it puts the
// previous files back (or removes the new ones if there were none).
func (in *Installer) install(ctx context.Context, e config.Install, certPEM, keyPEM, oldCert []byte, certErr error, oldKey []byte, keyErr error) (string, error) {
	restore := func() error {
		var errs []error
		for _, f := range []struct {
			path string
			data []byte
			err  error
			mode os.FileMode
		}{{e.KeyPath, oldKey, keyErr, 0o600}, {e.CertPath, oldCert, certErr, 0o644}} {
			if f.err != nil {
				if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
				continue
			}
			if err := WriteFileAtomic(f.path, f.data, f.mode); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	// A reload returns before the web server has read its files again:
	// the files of another entry of the same server are not written, nor
	// is it reloaded, until reloadGap after its last reload. (Apache,
	// restarting while a key is new and its certificate not yet, finds
	// them mismatched and exits.)
	if last, ok := in.reloaded[e.Reload]; ok {
		if wait := reloadGap - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
	if err := WriteFileAtomic(e.KeyPath, keyPEM, 0o600); err != nil {
		return "", err
	}
	if err := WriteFileAtomic(e.CertPath, certPEM, 0o644); err != nil {
		return "", errors.Join(err, restore())
	}
	if e.Test != "" {
		if out, err := runCommand(ctx, e.Test); err != nil {
			return out, errors.Join(fmt.Errorf("test command %q: %w", e.Test, err), restore())
		}
	}
	out, err := runCommand(ctx, e.Reload)
	in.reloaded[e.Reload] = time.Now()
	if err != nil {
		return out, errors.Join(fmt.Errorf("reload command %q: %w", e.Reload, err), restore())
	}
	return "", nil
}

// reloadGap is the least time between two reloads of one web server.
const reloadGap = time.Second

func runCommand(ctx context.Context, line string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", line).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// WriteFileAtomic replaces path with data: a temporary file in the same
// directory (created 0755 if missing), mode set, flushed, renamed over
// path, the directory flushed.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error { f.Close(); os.Remove(tmp); return err }
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func stateKey(name string) string { return "aptsnap/tls-install/" + name + ".json" }

func (in *Installer) saveState(ctx context.Context, st *InstallStatus) {
	b, _ := json.Marshal(st)
	if err := in.storage.Store(ctx, stateKey(st.Name), b); err != nil {
		in.log.Warn("recording the install state", "name", st.Name, "err", err)
	}
}

func (in *Installer) loadState(ctx context.Context) {
	for _, e := range in.entries {
		b, err := in.storage.Load(ctx, stateKey(e.Name))
		if err != nil {
			continue
		}
		var saved InstallStatus
		if json.Unmarshal(b, &saved) != nil {
			continue
		}
		in.mu.Lock()
		st := in.state[e.Name]
		st.Serial, st.NotAfter, st.LastAttempt, st.LastSuccess, st.Error, st.Output, st.ObtainError, st.NextObtain =
			saved.Serial, saved.NotAfter, saved.LastAttempt, saved.LastSuccess, saved.Error, saved.Output, saved.ObtainError, saved.NextObtain
		in.mu.Unlock()
	}
}

// Status is each entry's state: what was installed last and how the last
// attempt went (from storage: it works without a running server), with
// the not-after of the certificate storage holds when nothing is
// installed yet.
func (in *Installer) Status(ctx context.Context) []InstallStatus {
	in.loadState(ctx)
	var out []InstallStatus
	for _, e := range in.entries {
		in.mu.Lock()
		st := *in.state[e.Name]
		in.mu.Unlock()
		if _, leaf, err := in.load(ctx, e.Name); err != nil {
			st.Missing = true
		} else if st.NotAfter.IsZero() {
			st.NotAfter = leaf.NotAfter
		}
		out = append(out, st)
	}
	return out
}

var (
	installFailuresDesc = prometheus.NewDesc("aptsnap_tls_install_failures_total",
		"Failed installs of a web server's certificate (files written, test or reload failed) since start.", []string{"name"}, nil)
	installSuccessDesc = prometheus.NewDesc("aptsnap_tls_install_last_success_timestamp_seconds",
		"When a web server's certificate was last installed (test and reload passed).", []string{"name"}, nil)
	obtainFailuresDesc = prometheus.NewDesc("aptsnap_tls_install_obtain_failures_total",
		"Failed obtains or renewals of a web server's certificate from the CA since start.", []string{"name"}, nil)
	installNotAfterDesc = prometheus.NewDesc("aptsnap_tls_install_not_after_timestamp_seconds",
		"When the certificate installed last into the web server expires.", []string{"name"}, nil)
)

// Describe and Collect make the Installer a prometheus.Collector.
func (in *Installer) Describe(ch chan<- *prometheus.Desc) {
	ch <- installFailuresDesc
	ch <- installSuccessDesc
	ch <- installNotAfterDesc
	ch <- obtainFailuresDesc
}

// Collect reports the failures, last successes and not-after per name.
func (in *Installer) Collect(ch chan<- prometheus.Metric) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.entries {
		st := in.state[e.Name]
		ch <- prometheus.MustNewConstMetric(installFailuresDesc, prometheus.CounterValue, float64(st.Failures), e.Name)
		ch <- prometheus.MustNewConstMetric(obtainFailuresDesc, prometheus.CounterValue, float64(st.ObtainFailures), e.Name)
		if !st.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(installSuccessDesc, prometheus.GaugeValue, float64(st.LastSuccess.Unix()), e.Name)
		}
		if !st.NotAfter.IsZero() {
			ch <- prometheus.MustNewConstMetric(installNotAfterDesc, prometheus.GaugeValue, float64(st.NotAfter.Unix()), e.Name)
		}
	}
}

// StoredLeaf is the certificate storage holds for the [[tls.install]]
// entry named name (nil storage: a FileStorage in dir).
func StoredLeaf(ctx context.Context, storage certmagic.Storage, dir, name string) (*x509.Certificate, error) {
	if storage == nil {
		storage = &certmagic.FileStorage{Path: dir}
	}
	_, leaf, err := loadBundle(ctx, storage, name)
	return leaf, err
}
