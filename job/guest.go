package job

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/varde/varde/guest"
	"github.com/varde/varde/storage"
)

// CheckRecords turns a guest check report into storage records. The subject (device or config file a
// check was applied to) and the root it was read from go into the details.
func CheckRecords(rep guest.Report) ([]storage.CheckResult, error) {
	out := make([]storage.CheckResult, 0, len(rep.Results))
	for _, r := range rep.Results {
		details, err := json.Marshal(map[string]any{
			"subject": r.Subject, "root": rep.Root, "root_name": rep.RootName, "kernel": rep.Kernel,
			"collected_at": rep.CollectedAt, "tool": rep.Tool,
		})
		if err != nil {
			return nil, fmt.Errorf("check %s on %s: details: %w", r.CheckID, rep.Host, err)
		}
		out = append(out, storage.CheckResult{
			Host: rep.Host, CheckID: r.CheckID, Title: r.Title, Category: r.Category, Result: string(r.Status),
			Observed: r.Observed, Expected: r.Expected, Remediation: strings.Join(r.Remediation, "\n"),
			Details: details, CheckedAt: rep.CheckedAt,
		})
	}
	return out, nil
}

// checkSubject reads the subject back out of a stored check result's details.
func checkSubject(c storage.CheckResult) (string, error) {
	var d struct {
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(c.Details, &d); err != nil {
		return "", fmt.Errorf("check result %d (%s on %s): details: %w", c.ID, c.CheckID, c.Host, err)
	}
	return d.Subject, nil
}
