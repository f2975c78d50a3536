// Command varde audits where personal data lives and how far away it is: it probes latency, geo-locates
// data stores, checks guest tuning, keeps the evidence in Postgres and signs PDF reports.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err as one line and maps it to the process status: 2 for usage errors, 1 otherwise.
func exitCode(err error, stderr *os.File) int { return exitCodeTo(err, stderr) }

func exitCodeTo(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	// One line, whatever the error wraps: no stack traces, no multi-line driver messages.
	fmt.Fprintln(stderr, "varde:", strings.Join(strings.Fields(err.Error()), " "))
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}
