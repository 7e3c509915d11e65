package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/export"
	"github.com/aptsnap/aptsnap/webserver"
)

// exportCmd writes the snapshots as a file tree a web server serves.
func exportCmd(g *globals) *cobra.Command {
	var dir string
	var follow bool
	var every time.Duration
	c := &cobra.Command{
		Use:   "export --dir DIR [--follow]",
		Short: "Write the snapshots as a file tree a web server serves (nginx, Apache), and keep it in step",
		Long: `Writes every snapshot aptsnap serves into DIR at the URLs it serves them:
<archive>/<serial>/{dists,pool}/..., tagged/<tag>/<archive>/..., the trace
files <archive>/project/trace/<archive> and keys/aptsnap.asc. Each file is
stored once, in DIR/.aptsnap/by-sha256 (a hard link to the store's file
when on the same file system, else a copy, with a warning), and hard-linked
from every path serving it. A snapshot appears whole or not at all (built
aside, renamed into place); a bump's re-signed Release files replace the
old ones atomically; snapshots gone from the catalog leave the export. The
store's GC never takes a file from the export.

Run again, it only touches what changed. --follow keeps running and syncs
every --every (serve does the same with [export] dir in the configuration).
A DIR that is not empty and not an export is refused. Serve it with the
configuration 'aptsnap webserver-config nginx' (or apache2) prints.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError{fmt.Errorf("export: give the export directory (--dir)")}
			}
			ctx := cmd.Context()
			a, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer a.Close()
			x, err := a.OpenExport(ctx, dir)
			if err != nil {
				return err
			}
			defer x.Close()
			if follow {
				// SIGHUP: sync now (after a change made by hand).
				hup := make(chan os.Signal, 1)
				signal.Notify(hup, syscall.SIGHUP)
				defer signal.Stop(hup)
				wake := make(chan struct{}, 1)
				go func() {
					for range hup {
						select {
						case wake <- struct{}{}:
						default:
						}
					}
				}()
				a.Log.Info("export: following the catalog", "dir", x.Dir(), "every", every)
				return x.Follow(ctx, every, wake)
			}
			res, err := x.Sync(ctx)
			how := "hard-linked from the store"
			if x.Copying() {
				how = "copied from the store"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "export %s: %d snapshot tree(s); %d added, %d replaced, %d removed; %d file(s) %s, %d copied, %d decompressed, %d no longer needed deleted (%s)\n",
				x.Dir(), res.Trees, len(res.Added), len(res.Replaced), len(res.Removed), res.Linked+res.Copied, how, res.Copied, res.Derived, res.Pruned,
				res.Took.Round(time.Millisecond))
			return err
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "the export directory (created if missing)")
	c.Flags().BoolVar(&follow, "follow", false, "keep running, syncing on every change of the catalog")
	c.Flags().DurationVar(&every, "every", export.DefaultEvery, "with --follow: how often the catalog is polled")
	return c
}

// webserverConfigCmd prints a web server's site configuration for an export.
func webserverConfigCmd() *cobra.Command {
	var s webserver.Site
	var names []string
	c := &cobra.Command{
		Use:   "webserver-config nginx|apache2 --export DIR --name HOST [--name ALIAS...] [--aptsnap URL]",
		Short: "Print a web server's site configuration serving an export, with aptsnap behind it",
		Long: `Prints the site configuration of a web server serving the snapshots from an
export directory (aptsnap export): /<archive>/<serial>/..., /tagged/...,
trace files and /keys/ from the files; timestamp URLs, /api/, /ui/,
/metrics and /.well-known/acme-challenge/ proxied to aptsnap (--aptsnap);
plain HTTP, and HTTPS with the certificate at --cert and --key (default
/etc/aptsnap/tls/HOST/{fullchain,privkey}.pem); pool and by-hash files
cached as immutable, Release files, indices by path and trace files for a
minute (a bump re-signs Release files at the same URL). nginx: a file for
sites-available; apache2: an Apache 2.4 site for sites-available (with
mod_rewrite, mod_proxy_http, mod_headers, mod_mime and mod_ssl enabled;
ports 80 and 443 are left to ports.conf). Reads no configuration.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("name the web server: nginx or apache2")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			gen := webserver.Nginx
			switch args[0] {
			case "nginx":
			case "apache2", "apache":
				gen = webserver.Apache2
			default:
				return usageError{fmt.Errorf("webserver-config: unknown web server %q: nginx or apache2", args[0])}
			}
			if s.Export == "" || len(names) == 0 {
				var miss []string
				if s.Export == "" {
					miss = append(miss, "--export DIR")
				}
				if len(names) == 0 {
					miss = append(miss, "--name HOST")
				}
				return usageError{fmt.Errorf("webserver-config: give %s", strings.Join(miss, " and "))}
			}
			if len(names) > 0 {
				s.Name, s.Aliases = names[0], names[1:]
			}
			text, err := gen(s)
			if err != nil {
				return usageError{fmt.Errorf("webserver-config: %w", err)}
			}
			_, err = cmd.OutOrStdout().Write(text)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&s.Export, "export", "", "the export directory (aptsnap export --dir)")
	f.StringSliceVar(&names, "name", nil, "the host name clients use (server_name); repeated or comma-separated for a virtual host's other names (ServerAlias)")
	f.StringVar(&s.Aptsnap, "aptsnap", webserver.DefaultAptsnap, "aptsnap's URL, where timestamp URLs, /api/, /ui/, /metrics and ACME challenges go")
	f.StringVar(&s.Cert, "cert", "", "certificate chain the HTTPS server presents (default /etc/aptsnap/tls/HOST/fullchain.pem)")
	f.StringVar(&s.Key, "key", "", "its private key (default /etc/aptsnap/tls/HOST/privkey.pem)")
	f.StringVar(&s.HTTPListen, "http-listen", "80", "where plain HTTP listens: a port (IPv4 and IPv6) or ADDR:PORT")
	f.StringVar(&s.HTTPSListen, "https-listen", "443", "where HTTPS listens: a port (IPv4 and IPv6) or ADDR:PORT")
	f.BoolVar(&s.NoTLS, "no-tls", false, "plain HTTP only (no HTTPS server block or VirtualHost)")
	return c
}
