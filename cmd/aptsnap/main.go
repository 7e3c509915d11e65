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
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/demo"
	"github.com/aptsnap/aptsnap/progress"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiles := startProfiles()
	err := newRoot().ExecuteContext(ctx)
	stop()
	stopProfiles()
	if err != nil {
		fmt.Fprintln(os.Stderr, "aptsnap:", err)
		os.Exit(exitCode(err))
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
		Version:       version(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.configSet, g.serverSet = cmd.Flags().Changed("config"), cmd.Flags().Changed("server")
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(g.logLevel)) {
				return usageError{fmt.Errorf("--log-level: want debug, info, warn or error, not %q", g.logLevel)}
			}
			return nil
		},
	}
	root.SetVersionTemplate("aptsnap {{.Version}}\n")
	root.PersistentFlags().StringVar(&g.config, "config", "/etc/aptsnap/aptsnap.toml", "configuration file")
	root.PersistentFlags().StringVar(&g.server, "server", os.Getenv("APTSNAP_SERVER"),
		"run the verb against this aptsnap server's API (env APTSNAP_SERVER; token in env APTSNAP_TOKEN)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	root.PersistentFlags().BoolVar(&g.logJSON, "log-json", false, "log JSON lines instead of text")
	root.AddCommand(serveCmd(g), pulseCmd(g), snapshotCmd(g), bumpCmd(g), gcCmd(g), untrackCmd(g), verifyCmd(g),
		tagCmd(g), tokenCmd(g), demoCmd(g), certCmd(g), repoCmd(g), serialsCmd(g), sourcesCmd(g), exceptionCmd(g),
		updateCmd(g), configCmd(g), migrateCmd(g), exportCmd(g), webserverConfigCmd(), webserverCheckCmd(g), manCmd())
	strict(root)
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
			// The line is said when the signal comes, and always before
			// the process ends.
			stopped, said := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(said)
				select {
				case <-cmd.Context().Done():
				case <-stopped:
					if cmd.Context().Err() == nil {
						return
					}
				}
				a.Log.Info("shutting down: no new requests or pulses; those under way are interrupted", "cause", context.Cause(cmd.Context()))
			}()
			// SIGHUP re-reads the configuration (systemctl reload).
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default: // one reload is pending already
					}
				}
			}()
			err = a.Serve(cmd.Context(), app.ServeOptions{Schedule: !noSchedule, Reload: reload, Open: g.open})
			close(stopped)
			<-said
			return err
		},
	}
	c.Flags().BoolVar(&noSchedule, "no-schedule", false, "serve only, never pulse")
	return c
}

func pulseCmd(g *globals) *cobra.Command {
	var all bool
	var parallel int
	c := &cobra.Command{
		Use:   "pulse ARCHIVE... | --all",
		Short: "Mirror archives once and create a snapshot of each",
		Long: `Mirrors the archives once (custom archives: a fresh snapshot of their
contents) and prints "ARCHIVE SERIAL" for each. A failure is logged once,
with its reason; the others go on. Archives are pulsed at once, as serve's
schedule pulses them, up to --parallel at a time (progress is then logged,
not drawn); --parallel 1 pulses them one after the other.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return errors.New("name the archives, or give --all")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer a.Close()
			if all {
				args = a.Config.Names()
			}
			for _, name := range args {
				if !slices.Contains(a.Config.Names(), name) {
					return usageError{fmt.Errorf("pulse: no archive %q in the configuration (archives: %s)", name, strings.Join(a.Config.Names(), ", "))}
				}
			}
			a.Progress = progress.For(os.Stderr, a.Log, 30*time.Second)
			if min(parallel, len(args)) > 1 {
				a.Progress = &progress.Log{Logger: a.Log, Every: 30 * time.Second}
			}
			serials := make([]string, len(args))
			sem := make(chan struct{}, max(parallel, 1))
			var wg sync.WaitGroup
			for i, name := range args {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					// A failure is logged by the pulse, once.
					if snap, err := a.Pulse(cmd.Context(), name); err == nil {
						serials[i] = snap.Serial
					}
				})
			}
			wg.Wait()
			var failed []string
			for i, name := range args {
				if serials[i] == "" {
					failed = append(failed, name)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", name, serials[i])
			}
			if len(failed) > 0 {
				return fmt.Errorf("pulse: %d of %d failed: %s (the log above says why)", len(failed), len(args), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "pulse every archive of the configuration")
	c.Flags().IntVar(&parallel, "parallel", 4, "pulse at most this many archives at once")
	return c
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
