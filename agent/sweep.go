package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/probes"
)

// Sweep measures a task in one probes.Sweep: its ICMP echoes (root only; without root they are left
// out) and TCP handshakes at the same time, each target's ICMP result before its TCP one.
func Sweep(ctx context.Context, vantage string, spec agentwire.Spec) ([]probes.Result, error) {
	var targets []probes.Target
	for _, t := range spec.Targets {
		pt, err := probes.ParseTarget(net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port))))
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
		pt.Raw = t.Name
		targets = append(targets, pt)
	}
	c := probes.Config{Vantage: vantage, Interval: time.Duration(spec.IntervalNS), Timeout: time.Duration(spec.TimeoutNS)}
	icmp := spec.ICMP
	if os.Geteuid() != 0 {
		icmp = 0
	}
	if !c.SetCounts(icmp, spec.TCP) {
		return nil, nil
	}
	rs, err := probes.Sweep(ctx, c, targets)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return rs, nil
}
