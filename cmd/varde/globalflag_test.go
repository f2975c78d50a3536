package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBadGlobalFlagIsOneLine: an unknown or malformed global flag gives one error line, not the usage;
// -h still prints the usage.
func TestBadGlobalFlagIsOneLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--bogus", "probe"}, {"-v=maybe", "probe"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), strings.TrimLeft(strings.SplitN(args[0], "=", 2)[0], "-")) {
			t.Errorf("%v: error %v, want one line naming the flag", args, err)
		}
		if stderr.Len() != 0 || stdout.Len() != 0 {
			t.Errorf("%v: printed %q / %q besides the error", args, stdout.String(), stderr.String())
		}
	}
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &stderr); err != nil || !strings.Contains(stderr.String(), "usage: varde") {
		t.Errorf("-h: error %v, stderr %q; want the usage", err, stderr.String())
	}
}
