package main

import (
	"context"
	"fmt"

	"github.com/varde/varde"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/storage"
)

func cmdVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "varde %s\nschema version %d\nrules version %s\n", varde.Version, storage.LatestVersion(), residency.RulesVersion)
	return nil
}
