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
	b := varde.ReadBuild()
	fmt.Fprintf(e.stdout, "varde %s\n", b.Module)
	if b.Revision != "" {
		fmt.Fprintf(e.stdout, "commit %s", b.Revision)
		if b.Time != "" {
			fmt.Fprintf(e.stdout, " (%s)", b.Time)
		}
		if b.Modified {
			fmt.Fprint(e.stdout, ", built from a tree with uncommitted changes")
		}
		fmt.Fprintln(e.stdout)
	} else {
		fmt.Fprintln(e.stdout, "commit unknown (not built from a git checkout)")
	}
	fmt.Fprintf(e.stdout, "schema version %d\nrules version %s\n", storage.LatestVersion(), residency.RulesVersion)
	return nil
}
