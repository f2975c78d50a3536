package guest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/varde/varde"
	"github.com/varde/varde/audit/tuning"
)

// Report is one guest check run: where it ran and every check result.
type Report struct {
	Host     string          `json:"host"`
	Kernel   string          `json:"kernel,omitempty"`
	Root     tuning.RootKind `json:"root"`
	RootName string          `json:"root_name"`
	// CheckedAt is when the check ran; CollectedAt is the snapshot's time (equal for live runs).
	CheckedAt   time.Time       `json:"checked_at"`
	CollectedAt time.Time       `json:"collected_at"`
	Tool        string          `json:"tool"`
	Results     []tuning.Result `json:"results"`
}

// Check collects facts from root and judges them with every check in the catalogue. This is the function an
// audit job calls; the error is only for a bad Config or a cancelled ctx, as file problems become error results.
func Check(ctx context.Context, root Root, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	facts, err := Gather(ctx, root, cfg)
	if err != nil {
		return Report{}, err
	}
	now := cfg.Now().UTC()
	r := Report{Host: facts.Host, Kernel: facts.Kernel, Root: root.Kind, RootName: root.Name, CheckedAt: now,
		CollectedAt: now, Tool: varde.Version, Results: tuning.Evaluate(facts)}
	if root.Manifest != nil {
		r.CollectedAt = root.Manifest.Time
		if r.Host == "" {
			r.Host = root.Manifest.Host
		}
	}
	return r, nil
}

// Counts tallies results by status.
func (r Report) Counts() map[tuning.Status]int {
	c := map[tuning.Status]int{}
	for _, res := range r.Results {
		c[res.Status]++
	}
	return c
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // remediation commands contain > and &&
	return enc.Encode(r)
}

// WriteTable writes the report as a text table: one line per result, then remediation lines under it.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "host %s  kernel %s  root %s (%s)  collected %s\n\n", r.Host, r.Kernel, r.RootName, r.Root,
		r.CollectedAt.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tSUBJECT\tOBSERVED")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(res.Status)), res.CheckID, res.Subject, res.Observed)
		if res.Status != tuning.Pass && res.Status != tuning.NotApplicable {
			fmt.Fprintf(tw, "\t\t\texpected: %s\n", res.Expected)
		}
		for _, rem := range res.Remediation {
			fmt.Fprintf(tw, "\t\t\tfix: %s\n", rem)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := r.Counts()
	_, err := fmt.Fprintf(w, "\n%d results: %d pass, %d warn, %d fail, %d notapplicable, %d error\n", len(r.Results),
		c[tuning.Pass], c[tuning.Warn], c[tuning.Fail], c[tuning.NotApplicable], c[tuning.Error])
	return err
}
