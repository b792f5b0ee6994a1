package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/spf13/cobra"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/runtime"
)

// portalsCommand is `keyline portals`: the customer portals of a workspace
// (the /portal page, where an API's end users see and roll their own keys;
// sessions come from portal.createSession).
func portalsCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	create := &cobra.Command{
		Use:   "create --workspace NAME --api API_ID[,API_ID] --name NAME [--return-url URL]",
		Short: "open a portal showing these APIs' keys",
		Long: `Open a customer portal in the workspace showing these APIs' keys. Prints one
JSON line:
  {"portalId":"pc_..."}`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "workspace", "api", "name"); err != nil {
				return err
			}
			apis, _ := cmd.Flags().GetString("api")
			if len(commaList(apis)) == 0 {
				return usagef("--api is required")
			}
			name, _ := cmd.Flags().GetString("name")
			returnURL, _ := cmd.Flags().GetString("return-url")
			return withPortalAdmin(ctx, cmd, stdout, stderr, func(admin *runtime.PortalAdmin, workspace string, enc *json.Encoder) error {
				out, err := admin.CreatePortal(ctx, workspace, handlers.CreatePortalInput{Name: name, APIIDs: commaList(apis), ReturnURL: returnURL})
				if err != nil {
					return err
				}
				return enc.Encode(out)
			})
		}),
	}
	create.Flags().String("api", "", "comma-separated API IDs the portal shows (required)")
	create.Flags().String("name", "", "display name shown on the portal page (required)")
	create.Flags().String("return-url", "", "default absolute http(s) link back to your site (optional)")
	list := &cobra.Command{
		Use:   "list --workspace NAME",
		Short: "one JSON line per portal, deleted ones included",
		Long: `List the workspace's portals, one JSON line each, deleted ones included:
  {"portalId":"pc_...","name":"...","apiIds":[...],"createdAt":1764...,"deleted":false}`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "workspace"); err != nil {
				return err
			}
			return withPortalAdmin(ctx, cmd, stdout, stderr, func(admin *runtime.PortalAdmin, workspace string, enc *json.Encoder) error {
				list, err := admin.ListPortals(ctx, workspace)
				if err != nil {
					return err
				}
				for _, p := range list {
					if err := enc.Encode(p); err != nil {
						return err
					}
				}
				return nil
			})
		}),
	}
	del := &cobra.Command{
		Use:   "delete --workspace NAME --id PORTAL_ID",
		Short: "delete a portal and end its sessions",
		Long: `Delete a portal: every session of it stops working. Prints one JSON line:
  {"portalId":"pc_...","deleted":true}`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "workspace", "id"); err != nil {
				return err
			}
			id, _ := cmd.Flags().GetString("id")
			return withPortalAdmin(ctx, cmd, stdout, stderr, func(admin *runtime.PortalAdmin, workspace string, enc *json.Encoder) error {
				out, err := admin.DeletePortal(ctx, workspace, strings.TrimSpace(id))
				if err != nil {
					return err
				}
				return enc.Encode(out)
			})
		}),
	}
	del.Flags().String("id", "", "portal ID, pc_... (required)")
	for _, c := range []*cobra.Command{create, list, del} {
		c.Flags().String("workspace", "", "workspace name (required); it must exist")
	}
	return group("portals", "create, list or delete a workspace's customer portals",
		`Manage the customer portals of an existing workspace (the page /portal, where
an API's end users see and roll their own keys; sessions come from
portal.createSession). Each command prints JSON lines.`, create, list, del)
}

// withPortalAdmin opens the portal administration on --config's store and
// runs fn with the --workspace value.
func withPortalAdmin(ctx context.Context, cmd *cobra.Command, stdout, stderr io.Writer,
	fn func(admin *runtime.PortalAdmin, workspace string, enc *json.Encoder) error) error {
	cfg, err := loadConfig(configPath(cmd))
	if err != nil {
		return err
	}
	admin, cleanup, err := keyline.InitializePortalAdmin(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer cleanup()
	workspace, _ := cmd.Flags().GetString("workspace")
	return fn(admin, workspace, json.NewEncoder(stdout))
}
