package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/handlers"
)

const portalsSynopsis = "keyline portals create|list|delete [--config FILE] --workspace NAME [...]"

// portalsUsage is the portals section of the command's help.
const portalsUsage = `  keyline portals create|list|delete [--config FILE] --workspace NAME [...]
      Manage the customer portals of the existing workspace NAME (the page
      /portal, where an API's end users see and roll their own keys; sessions
      come from portal.createSession). Each prints JSON lines.
      create --api API_ID[,API_ID] --name NAME [--return-url URL]:
      {"portalId":"pc_..."}
      list: one line per portal, deleted ones included:
      {"portalId":"pc_...","name":"...","apiIds":[...],"createdAt":1764...,"deleted":false}
      delete --id PORTAL_ID: every session of the portal stops working.
      {"portalId":"pc_...","deleted":true}
`

// portalsCmd is `keyline portals`.
func portalsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := verb(args, stderr, portalsSynopsis, "create, list or delete a workspace's customer portals.", "create", "list", "delete"); err != nil {
		return err
	}
	summaries := map[string]string{
		"create": "keyline portals create [--config FILE] --workspace NAME --api API_ID[,API_ID] --name NAME [--return-url URL]: open a portal showing these APIs' keys.",
		"list":   "keyline portals list [--config FILE] --workspace NAME: one JSON line per portal, deleted ones included.",
		"delete": "keyline portals delete [--config FILE] --workspace NAME --id PORTAL_ID: delete a portal and end its sessions.",
	}
	fs, config := newFlags("portals "+args[0], summaries[args[0]], stderr)
	workspace := fs.String("workspace", "", "workspace name (required); it must exist")
	var apis, name, returnURL, id *string
	switch args[0] {
	case "create":
		apis = fs.String("api", "", "comma-separated API IDs the portal shows (required)")
		name = fs.String("name", "", "display name shown on the portal page (required)")
		returnURL = fs.String("return-url", "", "default absolute http(s) link back to your site (optional)")
	case "delete":
		id = fs.String("id", "", "portal ID, pc_... (required)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: %s)", fs.Arg(0), portalsSynopsis)
	}
	missing := func(flag string) error {
		fs.Usage()
		return errors.New(flag + " is required")
	}
	switch {
	case strings.TrimSpace(*workspace) == "":
		return missing("--workspace")
	case apis != nil && len(commaList(*apis)) == 0:
		return missing("--api")
	case name != nil && strings.TrimSpace(*name) == "":
		return missing("--name")
	case id != nil && strings.TrimSpace(*id) == "":
		return missing("--id")
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	admin, cleanup, err := keyline.InitializePortalAdmin(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer cleanup()
	enc := json.NewEncoder(stdout)
	switch args[0] {
	case "create":
		out, err := admin.CreatePortal(ctx, *workspace, handlers.CreatePortalInput{Name: *name, APIIDs: commaList(*apis), ReturnURL: *returnURL})
		if err != nil {
			return err
		}
		return enc.Encode(out)
	case "delete":
		out, err := admin.DeletePortal(ctx, *workspace, strings.TrimSpace(*id))
		if err != nil {
			return err
		}
		return enc.Encode(out)
	}
	list, err := admin.ListPortals(ctx, *workspace)
	if err != nil {
		return err
	}
	for _, p := range list {
		if err := enc.Encode(p); err != nil {
			return err
		}
	}
	return nil
}
