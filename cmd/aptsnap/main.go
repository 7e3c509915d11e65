// Command aptsnap keeps time-based snapshots of upstream APT repositories
// and serves them with signed, expiring Release files.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/demo"
	"github.com/aptsnap/aptsnap/progress"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "aptsnap:", err)
		os.Exit(1)
	}
}

type globals struct {
	config   string
	server   string
	logLevel string
	logJSON  bool
	// configSet and serverSet record which of --config and --server were
	// given on the command line (rather than by default or environment).
	configSet, serverSet bool
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "aptsnap",
		Short:         "Time-based snapshots of APT repositories, served signed and expiring",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			g.configSet, g.serverSet = cmd.Flags().Changed("config"), cmd.Flags().Changed("server")
		},
	}
	root.PersistentFlags().StringVar(&g.config, "config", "/etc/aptsnap/aptsnap.toml", "configuration file")
	root.PersistentFlags().StringVar(&g.server, "server", os.Getenv("APTSNAP_SERVER"),
		"run the verb against this aptsnap server's API (env APTSNAP_SERVER; token in env APTSNAP_TOKEN)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	root.PersistentFlags().BoolVar(&g.logJSON, "log-json", false, "log JSON lines instead of text")
	root.AddCommand(serveCmd(g), pulseCmd(g), snapshotCmd(g), bumpCmd(g), gcCmd(g), untrackCmd(g), verifyCmd(g),
		tagCmd(g), tokenCmd(g), demoCmd(g), certCmd(g), repoCmd(g), serialsCmd(g), sourcesCmd(g), exceptionCmd(g))
	return root
}

func (g *globals) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if g.logJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// open opens the configuration, for verbs that only work locally.
func (g *globals) open(ctx context.Context) (*app.App, error) {
	if g.serverSet && !g.configSet {
		return nil, errors.New("this command works on a configuration (--config), not against a server (--server)")
	}
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, err
	}
	return app.Open(ctx, cfg, g.logger())
}

func serveCmd(g *globals) *cobra.Command {
	var noSchedule bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve snapshots over HTTP and pulse every archive on schedule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer a.Close()
			return a.Serve(cmd.Context(), !noSchedule)
		},
	}
	c.Flags().BoolVar(&noSchedule, "no-schedule", false, "serve only, never pulse")
	return c
}

func pulseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pulse ARCHIVE...",
		Short: "Mirror archives once and create a snapshot of each",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer a.Close()
			a.Progress = progress.ForTerminal(os.Stderr)
			var failed []string
			for _, name := range args {
				snap, err := a.Pulse(cmd.Context(), name)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					failed = append(failed, name)
					continue
				}
				fmt.Printf("%s %s\n", name, snap.Serial)
			}
			if len(failed) > 0 {
				return fmt.Errorf("pulse failed: %s", strings.Join(failed, ", "))
			}
			return nil
		},
	}
}

func demoCmd(g *globals) *cobra.Command {
	var dir, listen string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the server on its embedded defaults against a generated offline upstream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), dir, listen, g.logger())
		},
	}
	c.Flags().StringVar(&dir, "dir", "aptsnap-demo", "directory for the sample upstream, the data and the configuration")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve snapshots on")
	return c
}
