package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/config"
)

// configCmd checks a configuration file before it is used: before a
// reload of the service, in configuration management.
func configCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check the configuration"}
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration file (--config): syntax, names, keyrings; exit 1 with the first problem",
		Long: `Reads the configuration file as serve would (every field checked, every
keyring read, typos named with the line and the nearest field) and opens
nothing: run it before systemctl reload aptsnap.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(g.config)
			if err != nil {
				return err
			}
			printConfigSummary(cmd.OutOrStdout(), g.config, cfg)
			return nil
		},
	})
	return c
}

func printConfigSummary(w io.Writer, path string, cfg *config.Config) {
	what := "serves nothing until an [[archive]] or [[custom]] is configured"
	if n := len(cfg.Archives) + len(cfg.Customs); n > 0 {
		what = fmt.Sprintf("%d mirrored, %d custom archives", len(cfg.Archives), len(cfg.Customs))
	}
	fmt.Fprintf(w, "%s: ok (%s; data in %s; listening on %s)\n", path, what, cfg.DataDir, cfg.Listen)
}
