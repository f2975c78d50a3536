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
	// The signal that stopped the run decides the exit status (128 + signal number, as a shell reports a
	// process killed by it), so a wrapper can tell an interrupted audit from a failed one.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		if sig, ok := <-sigs; ok {
			cancel(interrupted{sig.(syscall.Signal)})
		}
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	if cause := context.Cause(ctx); err != nil && cause != nil {
		err = fmt.Errorf("%w (%w)", err, cause)
	}
	cancel(nil)
	os.Exit(exitCode(err, os.Stderr))
}

// interrupted is the cause of a run cancelled by a signal.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "stopped by " + i.sig.String() }

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
	var i interrupted
	if errors.As(err, &i) {
		return 128 + int(i.sig)
	}
	return 1
}
