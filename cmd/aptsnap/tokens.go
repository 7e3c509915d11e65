package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/api"
)

func tokenCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Manage admin API tokens"}
	var name, role string
	create := &cobra.Command{
		Use:   "create --role ROLE --name NAME",
		Short: "Create a token and print its secret (shown once, never stored)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return errors.New("token create: --name is required")
			}
			r, err := api.ParseRole(role)
			if err != nil {
				return fmt.Errorf("token create: %w", err)
			}
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				t, err := b.CreateToken(ctx, name, r)
				if err != nil {
					return err
				}
				printNewToken(w, cmd.ErrOrStderr(), t)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "name of the token (who or what uses it)")
	create.Flags().StringVar(&role, "role", "", "release-manager (bump, tag create and delete, repo add, remove, copy and publish, freeze exceptions, drafting and uploading stable updates), reviewer (that, and accepting, verifying, releasing and phasing stable updates) or admin (all that, and gc, untrack, verify, tokens)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens: name, role, created",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				list, err := b.ListTokens(ctx)
				if err != nil {
					return err
				}
				return printTokens(w, list)
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Delete a token: its secret stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				if err := b.RevokeToken(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(w, "revoked token %s\n", args[0])
				return nil
			})
		},
	}
	c.AddCommand(create, list, revoke)
	return c
}
