package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/aptsnap/aptsnap/certs"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/datadir"
)

// printInstallStatus lists the [[tls.install]] certificates: where they
// are installed, their not-after and how the last install went.
func printInstallStatus(ctx context.Context, cfg *config.Config, storage certmagic.Storage, g *globals) error {
	if len(cfg.TLS.Install) == 0 {
		return nil
	}
	in, err := certs.NewInstaller(cfg.TLS, datadir.Dir(cfg.DataDir).Certs(), g.logger(), certs.InstallOptions{Storage: storage})
	if err != nil {
		return err
	}
	defer in.Stop()
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "INSTALLED FOR\tSERVER\tCERT PATH\tKEY PATH\tNOT AFTER\tLAST INSTALL")
	for _, s := range in.Status(ctx) {
		notAfter := "not obtained yet"
		if !s.NotAfter.IsZero() {
			notAfter = s.NotAfter.UTC().Format(time.RFC3339)
		} else if !s.Missing {
			notAfter = "-"
		}
		last := "never"
		switch {
		case s.Error != "":
			last = "FAILED " + s.LastAttempt.UTC().Format(time.RFC3339) + ": " + oneLine(s.Error)
			if s.Output != "" {
				last += ": " + oneLine(s.Output)
			}
			if !s.LastSuccess.IsZero() {
				last += " (last success " + s.LastSuccess.UTC().Format(time.RFC3339) + ")"
			}
		case !s.LastSuccess.IsZero():
			last = "ok " + s.LastSuccess.UTC().Format(time.RFC3339) + " serial " + s.Serial
		}
		if s.ObtainError != "" {
			last += "; obtaining FAILED: " + oneLine(s.ObtainError)
			if !s.NextObtain.IsZero() {
				last += " (next try " + s.NextObtain.UTC().Format(time.RFC3339) + ")"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(s.Names, ","), s.Server, s.CertPath, s.KeyPath, notAfter, last)
	}
	return w.Flush()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
