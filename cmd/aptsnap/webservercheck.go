package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/storage"
)

// webserverCheckCmd checks the certificate a web server presents for HOST
// against the one aptsnap holds (a monitoring check).
func webserverCheckCmd(g *globals) *cobra.Command {
	var port int
	var caFile, connect string
	var days int
	c := &cobra.Command{
		Use:   "webserver-check HOST [--port 443] [--ca FILE] [--days 14]",
		Short: "Check that the web server presents for HOST the certificate aptsnap holds, valid and not close to expiry",
		Long: `Connects to HOST over TLS (SNI HOST; --connect ADDR dials another address)
and checks that the certificate presented is the one aptsnap holds for
HOST in its certificate storage (that of the [[tls.install]] naming HOST:
same public key and serial), that it
chains to the system roots (or --ca) for HOST, and that it does not expire
within --days. Prints one line; exits 0 when all holds, 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := args[0]
			cfg, err := config.Load(g.config)
			if err != nil {
				return err
			}
			if cfg.TLS == nil || cfg.TLS.ACME == nil {
				return fmt.Errorf("%s has no [tls.acme]: aptsnap holds no certificate to compare with", g.config)
			}
			ctx := cmd.Context()
			held, err := storedLeaf(ctx, g, cfg, host)
			if err != nil {
				return fmt.Errorf("webserver-check %s: aptsnap holds no certificate for it: %w", host, err)
			}
			var roots *x509.CertPool
			if caFile != "" {
				b, err := os.ReadFile(caFile)
				if err != nil {
					return err
				}
				roots = x509.NewCertPool()
				if !roots.AppendCertsFromPEM(b) {
					return fmt.Errorf("--ca %s: no PEM certificate", caFile)
				}
			}
			addr := connect
			if addr == "" {
				addr = net.JoinHostPort(host, strconv.Itoa(port))
			}
			msg, err := checkWebServer(ctx, addr, host, roots, held, time.Duration(days)*24*time.Hour)
			if err != nil {
				return fmt.Errorf("webserver-check %s: %w", host, err)
			}
			fmt.Println(msg)
			return nil
		},
	}
	c.Flags().IntVar(&port, "port", 443, "the web server's HTTPS port")
	c.Flags().StringVar(&caFile, "ca", "", "PEM roots to verify with instead of the system's")
	c.Flags().StringVar(&connect, "connect", "", "dial this HOST:PORT instead of HOST:--port (SNI stays HOST)")
	c.Flags().IntVar(&days, "days", 14, "fail when the certificate expires within this many days")
	return c
}

func storedLeaf(ctx context.Context, g *globals, cfg *config.Config, host string) (*x509.Certificate, error) {
	var st *storage.Storage
	var opt certmagic.Storage
	if cfg.Catalog.Postgres != "" {
		var err error
		if st, err = storage.Open(ctx, cfg); err != nil {
			return nil, err
		}
		defer st.Close()
		if kv, ok := st.Catalog.(catalog.KV); ok {
			opt = certs.NewKVStorage(kv, nil)
		}
	}
	for _, e := range cfg.TLS.Install {
		if slices.Contains(e.Names, host) {
			return certs.StoredLeaf(ctx, opt, datadir.Dir(cfg.DataDir).Certs(), e.Name)
		}
	}
	return nil, fmt.Errorf("no [[tls.install]] in %s names %s", g.config, host)
}

func checkWebServer(ctx context.Context, addr, host string, roots *x509.CertPool, held *x509.Certificate, margin time.Duration) (string, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{ServerName: host, InsecureSkipVerify: true}}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	peer := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(peer) == 0 {
		return "", errors.New("no certificate presented")
	}
	leaf := peer[0]
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter}); err != nil {
		return "", fmt.Errorf("presented certificate (serial %s, issuer %s) does not verify: %w", leaf.SerialNumber, leaf.Issuer, err)
	}
	heldKey, _ := x509.MarshalPKIXPublicKey(held.PublicKey)
	gotKey, _ := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	if leaf.SerialNumber.Cmp(held.SerialNumber) != 0 || !bytes.Equal(heldKey, gotKey) {
		return "", fmt.Errorf("presents serial %s (not after %s), not the certificate aptsnap holds (serial %s, not after %s): install or reload missing?",
			leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339), held.SerialNumber, held.NotAfter.UTC().Format(time.RFC3339))
	}
	left := time.Until(leaf.NotAfter)
	if left < margin {
		return "", fmt.Errorf("certificate serial %s expires %s, within %d days", leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339), int(margin.Hours()/24))
	}
	return fmt.Sprintf("OK %s at %s: serial %s, issuer %s, expires %s (in %d days)", host, addr, leaf.SerialNumber, leaf.Issuer,
		leaf.NotAfter.UTC().Format(time.RFC3339), int(left.Hours()/24)), nil
}
