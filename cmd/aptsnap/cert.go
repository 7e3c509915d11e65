package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/storage"
)

func certCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "cert", Short: "HTTPS certificates"}
	c.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Per name: issuer, not-after and next renewal of the stored certificate (or of cert_file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.serverSet && !g.configSet {
				return errors.New("cert status works on a configuration (--config), not against a server (--server)")
			}
			cfg, err := config.Load(g.config)
			if err != nil {
				return err
			}
			if cfg.TLS == nil {
				return fmt.Errorf("%s has no [tls] section", g.config)
			}
			var opts certs.Options
			if cfg.Catalog.Postgres != "" {
				// Servers sharing a catalog keep their certificates in it.
				st, err := storage.Open(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				defer st.Close()
				if kv, ok := st.Catalog.(catalog.KV); ok {
					opts.Storage = certs.NewKVStorage(kv, g.logger())
				}
			}
			m, err := certs.New(cfg.TLS, datadir.Dir(cfg.DataDir).Certs(), g.logger(), opts)
			if err != nil {
				return err
			}
			defer m.Stop()
			st, err := m.Status(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tISSUER\tNOT AFTER\tNEXT RENEWAL\tSOURCE")
			for _, s := range st {
				if s.Missing {
					fmt.Fprintf(w, "%s\t-\tnot obtained yet\t-\t%s\n", s.Name, s.CA)
					continue
				}
				next := "-"
				if !s.NextRenewal.IsZero() {
					next = s.NextRenewal.UTC().Format(time.RFC3339)
					if s.ARI {
						next += " (ARI)"
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Issuer, s.NotAfter.UTC().Format(time.RFC3339), next, s.CA)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return printInstallStatus(cmd.Context(), cfg, opts.Storage, g)
		},
	})
	return c
}
