// Command engine is varde's probe engine alone in a minimal Go binary, for bench/probe to print beside
// varde and fping: the same sweep `varde probe --icmp --tcp PORT --count N --tcp-count M` runs (one P,
// as there) and the same JSON lines, without the rest of varde linked in. Its peak RSS is what the probing
// itself costs in Go; varde's is that plus the executable pages its other packages' inits touch.
//
// Usage: engine TARGETS-FILE PORT COUNT TCP-COUNT
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/varde/varde/probes"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "engine:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: engine TARGETS-FILE PORT COUNT TCP-COUNT")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	targets, err := probes.ParseTargets(f, args[0])
	if err != nil {
		return err
	}
	port, err := probes.ParsePort(args[1])
	if err != nil {
		return err
	}
	count, err1 := strconv.Atoi(args[2])
	tcpCount, err2 := strconv.Atoi(args[3])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("count %q, tcp count %q: want integers", args[2], args[3])
	}
	runtime.GOMAXPROCS(1) // as varde probe runs its sweep
	cfg := probes.Config{ICMP: true, TCP: true, TCPPort: port, Count: count, TCPCount: tcpCount}
	results, err := probes.Sweep(context.Background(), cfg, targets)
	if err != nil {
		return err
	}
	return probes.WriteJSONLines(os.Stdout, results)
}
