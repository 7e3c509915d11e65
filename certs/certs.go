// Package certs gives the HTTPS listener its certificates: obtained and
// renewed through ACME (HTTP-01 on the plain HTTP listener, TLS-ALPN-01 on
// the HTTPS one) with certmagic, or read from certificate files.
//
// ACME certificates, keys and account data live in a certmagic.Storage,
// by default a certmagic.FileStorage in data_dir/certs, so a restart
// reuses them instead of reissuing. certmagic.Storage is an interface
// (Load/Store/List/Stat/Delete plus the Locker that serialises issuance and
// renewal), like our blob.Store and catalog.Catalog: servers of a future
// cluster share one Storage (on the same database or object store as the
// catalog and blobs) and certmagic's locks keep them from issuing twice.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/aptsnap/aptsnap/config"
)

// Manager supplies the HTTPS listener's certificates.
type Manager struct {
	cfg *config.TLS
	log *slog.Logger

	// ACME mode.
	storage certmagic.Storage
	cache   *certmagic.Cache
	magic   *certmagic.Config
	issuer  *certmagic.ACMEIssuer

	// Files mode.
	mu    sync.RWMutex
	file  *tls.Certificate
	mtime time.Time
	stop  chan struct{}
	once  sync.Once
}

// Options tune a Manager beyond the configuration.
type Options struct {
	// Storage overrides the default FileStorage in the directory given to New.
	Storage certmagic.Storage
	// HTTPAddr and TLSAddr are where the plain and HTTPS listeners
	// actually listen; the ACME solvers answer there (through
	// HTTPHandler and TLSConfig) rather than binding ports of their own.
	HTTPAddr, TLSAddr net.Addr
	// DisableHTTP01 and DisableTLSALPN01 turn one challenge type off
	// (tests use them to prove each works alone).
	DisableHTTP01, DisableTLSALPN01 bool
	// RenewCheckInterval is how often the background maintenance looks at
	// every ACME certificate: it refreshes the certificate's ARI once the
	// CA's Retry-After has passed and renews when the ARI window (or,
	// without ARI, the remaining lifetime) says so. Zero means certmagic's
	// default, 10 minutes; tests shorten it.
	RenewCheckInterval time.Duration
}

// New makes a Manager for cfg (which must not be nil), keeping ACME
// accounts, certificates and keys in dir unless opts.Storage is set.
// Nothing is obtained until Start.
func New(cfg *config.TLS, dir string, log *slog.Logger, opts Options) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{cfg: cfg, log: log, stop: make(chan struct{})}
	if cfg.ACME == nil {
		if err := m.loadFiles(); err != nil {
			return nil, err
		}
		return m, nil
	}
	m.storage = opts.Storage
	if m.storage == nil {
		m.storage = &certmagic.FileStorage{Path: dir}
	}
	var tmpl certmagic.ACMEIssuer
	var err error
	m.cache, m.magic, tmpl, err = newMagic(cfg.ACME, m.storage, log.With("component", "acme"), opts.RenewCheckInterval, nil)
	if err != nil {
		return nil, err
	}
	tmpl.DisableHTTPChallenge, tmpl.DisableTLSALPNChallenge = opts.DisableHTTP01, opts.DisableTLSALPN01
	// The solvers would bind ListenHost:port; pointing them at our own
	// listeners makes them find the port taken and leave the answer to
	// HTTPHandler (HTTP-01) and TLSConfig's GetCertificate (TLS-ALPN-01).
	if host, port, ok := hostPort(opts.HTTPAddr); ok {
		tmpl.ListenHost, tmpl.AltHTTPPort = host, port
	}
	if host, port, ok := hostPort(opts.TLSAddr); ok {
		if tmpl.ListenHost == "" {
			tmpl.ListenHost = host
		}
		tmpl.AltTLSALPNPort = port
	}
	m.issuer = certmagic.NewACMEIssuer(m.magic, tmpl)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

func hostPort(a net.Addr) (string, int, bool) {
	if a == nil {
		return "", 0, false
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	return h, n, err == nil
}

// ACME reports whether certificates come from an ACME CA.
func (m *Manager) ACME() bool { return m.magic != nil }

// Start begins certificate management: with ACME, loads what storage holds
// and obtains what is missing in the background (the listeners must be
// serving, since the CA connects back to them), renewing from then on
// (certmagic checks every Options.RenewCheckInterval and follows ARI where the CA
// offers it, polling it as often as the CA's Retry-After allows); with
// files, watches them for replacement.
func (m *Manager) Start(ctx context.Context) error {
	if m.magic != nil {
		return m.magic.ManageAsync(ctx, m.cfg.ACME.Domains)
	}
	go m.watchFiles()
	return nil
}

// Obtain is Start for ACME, but waits until every name has a certificate.
func (m *Manager) Obtain(ctx context.Context) error {
	if m.magic == nil {
		return nil
	}
	return m.magic.ManageSync(ctx, m.cfg.ACME.Domains)
}

// Stop ends background renewal.
func (m *Manager) Stop() {
	m.once.Do(func() {
		close(m.stop)
		if m.cache != nil {
			m.cache.Stop()
		}
	})
}

// TLSConfig is the HTTPS listener's configuration; with ACME it also
// answers TLS-ALPN-01 challenges.
func (m *Manager) TLSConfig() *tls.Config {
	if m.magic != nil {
		c := m.magic.TLSConfig()
		c.NextProtos = []string{"h2", "http/1.1", "acme-tls/1"}
		return c
	}
	return &tls.Config{
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			m.mu.RLock()
			defer m.mu.RUnlock()
			return m.file, nil
		},
	}
}

// HTTPHandler wraps the plain HTTP listener's handler so that it answers
// HTTP-01 challenges.
func (m *Manager) HTTPHandler(h http.Handler) http.Handler {
	if m.issuer == nil {
		return h
	}
	return m.issuer.HTTPChallengeHandler(h)
}

// NotAfter is each served name's certificate expiry (the latest, if
// several are cached): what a certificate-expiry gauge reports.
func (m *Manager) NotAfter() map[string]time.Time {
	out := map[string]time.Time{}
	if m.magic == nil {
		m.mu.RLock()
		defer m.mu.RUnlock()
		if m.file != nil && m.file.Leaf != nil {
			for _, n := range leafNames(m.file.Leaf) {
				out[n] = m.file.Leaf.NotAfter
			}
		}
		return out
	}
	for _, name := range m.cfg.ACME.Domains {
		for _, c := range m.cache.AllMatchingCertificates(name) {
			if c.Leaf != nil && c.Leaf.NotAfter.After(out[name]) {
				out[name] = c.Leaf.NotAfter
			}
		}
	}
	return out
}

// Renew renews every name now, even if not due (force), and swaps the new
// certificate in without dropping a connection: the new one is cached
// before the old one leaves the cache.
func (m *Manager) Renew(ctx context.Context, force bool) error {
	if m.magic == nil {
		return m.loadFiles()
	}
	var errs []error
	for _, name := range m.cfg.ACME.Domains {
		var old []string
		for _, c := range m.cache.AllMatchingCertificates(name) {
			old = append(old, c.Hash())
		}
		if err := m.magic.RenewCertSync(ctx, name, force); err != nil {
			errs = append(errs, fmt.Errorf("renew %s: %w", name, err))
			continue
		}
		fresh, err := m.magic.CacheManagedCertificate(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("renew %s: %w", name, err))
			continue
		}
		old = slices.DeleteFunc(old, func(h string) bool { return h == fresh.Hash() })
		m.cache.Remove(old)
		m.log.Info("certificate renewed", "name", name, "not_after", fresh.Leaf.NotAfter)
	}
	return errors.Join(errs...)
}

// Status is what storage holds for one name.
type Status struct {
	Name     string
	Issuer   string // the issuing CA's subject
	CA       string // the ACME directory, or the certificate file
	NotAfter time.Time
	// NextRenewal is when renewal is due: the time picked in the CA's
	// ARI window if it offered one, else when a third of the lifetime
	// remains. Zero for certificate files.
	NextRenewal time.Time
	ARI         bool
	// Missing is set when no certificate is stored for Name yet.
	Missing bool
}

// Status reads every name's certificate from storage (or the files): it
// works without a running server.
func (m *Manager) Status(ctx context.Context) ([]Status, error) {
	if m.magic == nil {
		m.mu.RLock()
		leaf := m.file.Leaf
		m.mu.RUnlock()
		var out []Status
		for _, n := range leafNames(leaf) {
			out = append(out, Status{Name: n, Issuer: leaf.Issuer.String(), CA: m.cfg.CertFile, NotAfter: leaf.NotAfter})
		}
		return out, nil
	}
	var out []Status
	key := m.issuer.IssuerKey()
	for _, name := range m.cfg.ACME.Domains {
		st := Status{Name: name, CA: m.issuer.CA}
		certPEM, err := m.storage.Load(ctx, certmagic.StorageKeys.SiteCert(key, name))
		if errors.Is(err, os.ErrNotExist) {
			st.Missing = true
			out = append(out, st)
			continue
		}
		if err != nil {
			return nil, err
		}
		leaf, err := firstCert(certPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		st.Issuer, st.NotAfter = leaf.Issuer.String(), leaf.NotAfter
		lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
		st.NextRenewal = leaf.NotAfter.Add(-time.Duration(float64(lifetime) * certmagic.DefaultRenewalWindowRatio))
		if meta, err := m.storage.Load(ctx, certmagic.StorageKeys.SiteMeta(key, name)); err == nil {
			var res struct {
				IssuerData acme.Certificate `json:"issuer_data"`
			}
			if json.Unmarshal(meta, &res) == nil && res.IssuerData.RenewalInfo != nil {
				ari := res.IssuerData.RenewalInfo
				switch {
				case !ari.SelectedTime.IsZero():
					st.NextRenewal, st.ARI = ari.SelectedTime, true
				case !ari.SuggestedWindow.Start.IsZero():
					st.NextRenewal, st.ARI = ari.SuggestedWindow.Start, true
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func firstCert(pemBytes []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return nil, errors.New("no certificate in PEM")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func leafNames(leaf *x509.Certificate) []string {
	if leaf == nil {
		return nil
	}
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = append(names, leaf.Subject.CommonName)
	}
	sort.Strings(names)
	return names
}

// loadFiles (re)reads cert_file and key_file.
func (m *Manager) loadFiles() error {
	fi, err := os.Stat(m.cfg.CertFile)
	if err != nil {
		return fmt.Errorf("tls.cert_file: %w", err)
	}
	c, err := tls.LoadX509KeyPair(m.cfg.CertFile, m.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	m.mu.Lock()
	m.file, m.mtime = &c, fi.ModTime()
	m.mu.Unlock()
	return nil
}

// watchFiles reloads the certificate files when they change (a renewal
// by some outside tool), keeping the old pair if the new one is broken.
func (m *Manager) watchFiles() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		fi, err := os.Stat(m.cfg.CertFile)
		m.mu.RLock()
		changed := err == nil && !fi.ModTime().Equal(m.mtime)
		m.mu.RUnlock()
		if changed {
			if err := m.loadFiles(); err != nil {
				m.log.Error("reloading certificate files", "err", err)
			} else {
				m.log.Info("reloaded certificate files", "cert_file", m.cfg.CertFile)
			}
		}
	}
}

// newMagic makes a certmagic cache and configuration on storage, and the
// template of their ACME issuer from acme (the CA, its root, the account's
// email; challenges tried on Let's Encrypt staging first), for the caller
// to finish. onEvent, if set, hears certmagic's events.
func newMagic(acme *config.ACME, storage certmagic.Storage, log *slog.Logger, renewCheck time.Duration,
	onEvent func(ctx context.Context, event string, data map[string]any) error) (*certmagic.Cache, *certmagic.Config, certmagic.ACMEIssuer, error) {
	zl := zapLogger(log)
	var magic *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:             zl,
		RenewCheckInterval: renewCheck,
	})
	magic = certmagic.New(cache, certmagic.Config{Storage: storage, Logger: zl, OnEvent: onEvent})
	tmpl := certmagic.ACMEIssuer{CA: acme.CA, Email: acme.Email, Agreed: true, Logger: zl}
	if acme.CA == config.LetsEncryptProduction {
		// Challenges are tried on staging first, so a broken setup does
		// not eat production's rate limits.
		tmpl.TestCA = config.LetsEncryptStaging
	}
	if acme.CARoot != "" {
		pemBytes, err := os.ReadFile(acme.CARoot)
		if err != nil {
			return nil, nil, tmpl, fmt.Errorf("tls.acme.ca_root: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, nil, tmpl, fmt.Errorf("tls.acme.ca_root %s: no PEM certificate", acme.CARoot)
		}
		tmpl.TrustedRoots = pool
	}
	return cache, magic, tmpl, nil
}
