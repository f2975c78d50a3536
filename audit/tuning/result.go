// Package tuning is the guest tuning check catalogue for Linux virtual machines and the pure rules that judge
// collected facts (see Facts) into check results. Collection (files, disk I/O) lives in the top-level guest
// package; nothing here reads a file or the clock.
package tuning

import (
	"fmt"
	"sort"
)

// Status is a check result's outcome, named as XCCDF names rule results (plus warn for advice).
type Status string

const (
	Pass          Status = "pass"
	Warn          Status = "warn"
	Fail          Status = "fail"
	NotApplicable Status = "notapplicable"
	Error         Status = "error"
)

// Check is one catalogue entry. ID is stable: stored results and reports refer to it.
type Check struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Category  string `json:"category"`
	Rationale string `json:"rationale"`
	// Source says where the rationale comes from (the seed article, kernel or vendor documentation).
	Source string `json:"source"`
}

// Result is the outcome of one check on one subject (a block device, a config file, or the machine).
type Result struct {
	CheckID  string `json:"check_id"`
	Title    string `json:"title"`
	Category string `json:"category"`
	// Subject is what was checked when a check applies to several things ("xvda",
	// "/etc/xen/configs/mailserver.cfg"); empty for the machine as a whole.
	Subject     string   `json:"subject,omitempty"`
	Status      Status   `json:"status"`
	Observed    string   `json:"observed"`
	Expected    string   `json:"expected"`
	Remediation []string `json:"remediation,omitempty"`
}

// Catalogue returns every check, ordered by ID.
func Catalogue() []Check {
	out := make([]Check, 0, len(catalogue))
	for _, c := range catalogue {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the catalogue entry for id.
func Lookup(id string) (Check, bool) {
	c, ok := catalogue[id]
	return c, ok
}

func result(id, subject string, st Status, observed, expected string, remediation ...string) Result {
	c, ok := catalogue[id]
	if !ok {
		panic(fmt.Sprintf("guest: check %q is not in the catalogue", id))
	}
	return Result{CheckID: id, Title: c.Title, Category: c.Category, Subject: subject, Status: st,
		Observed: observed, Expected: expected, Remediation: remediation}
}

func errResult(id, subject string, err error, expected string) Result {
	return result(id, subject, Error, err.Error(), expected)
}

func naResult(id, subject, why, expected string) Result {
	return result(id, subject, NotApplicable, why, expected)
}
