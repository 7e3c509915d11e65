package app

import (
	"net"
	"net/http"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/datadir"
)

type certmagicStorage = certmagic.Storage

// Installer is the installer of [[tls.install]] certificates while
// serving, or nil.
func (a *App) Installer() *certs.Installer {
	a.certsMu.Lock()
	defer a.certsMu.Unlock()
	return a.installer
}

func (a *App) setInstaller(in *certs.Installer) {
	a.certsMu.Lock()
	a.installer = in
	a.certsMu.Unlock()
}

// startInstaller makes the generation's [[tls.install]] installer, if the
// configuration has any, answering HTTP-01 on ln.
func (g *generation) startInstaller(ln net.Listener, storage certmagic.Storage) error {
	a := g.app
	if a.Config.TLS == nil || len(a.Config.TLS.Install) == 0 {
		return nil
	}
	inst, err := certs.NewInstaller(a.Config.TLS, datadir.Dir(a.Config.DataDir).Certs(), a.Log, certs.InstallOptions{
		Storage: storage, HTTPAddr: ln.Addr(), RetryInterval: a.CertInstallRetry})
	if err != nil {
		return err
	}
	g.inst = inst
	g.plain = inst.HTTPHandler(g.plain)
	a.setInstaller(inst)
	return nil
}

// installCollector reports the serving installer's metrics.
type installCollector struct{ a *App }

func (installCollector) Describe(chan<- *prometheus.Desc) {} // unchecked: the installer comes and goes

func (c installCollector) Collect(ch chan<- prometheus.Metric) {
	if in := c.a.Installer(); in != nil {
		in.Collect(ch)
	}
}

// withInstallMetrics appends the [[tls.install]] metrics to those of
// base, in the text format.
func (a *App) withInstallMetrics(base http.Handler) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(installCollector{a})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.Header.Del("Accept") // the text format, to which ours is appended
		r2.Header.Del("Accept-Encoding")
		base.ServeHTTP(w, r2)
		mfs, err := reg.Gather()
		if err != nil {
			return
		}
		enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			enc.Encode(mf)
		}
	})
}
