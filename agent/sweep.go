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

// Sweep measures a task with probes.Sweep: ICMP echoes (root only; without root they are left out),
// then TCP handshakes.
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
	base := probes.Config{Vantage: vantage, Interval: time.Duration(spec.IntervalNS), Timeout: time.Duration(spec.TimeoutNS)}
	var all []probes.Result
	if spec.ICMP > 0 && os.Geteuid() == 0 {
		c := base
		c.ICMP, c.Count = true, spec.ICMP
		rs, err := probes.Sweep(ctx, c, targets)
		if err != nil {
			return nil, fmt.Errorf("ICMP sweep: %w", err)
		}
		all = append(all, rs...)
	}
	if spec.TCP > 0 {
		c := base
		c.TCP, c.Count = true, spec.TCP
		rs, err := probes.Sweep(ctx, c, targets)
		if err != nil {
			return nil, fmt.Errorf("TCP sweep: %w", err)
		}
		all = append(all, rs...)
	}
	return all, nil
}
