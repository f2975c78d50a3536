//go:build linux

package lab

import (
	"context"
	"fmt"
)

// StartPrivate is Start for a caller in a network namespace of its own, such as one remote vantage of a
// multi-vantage test: the lab always takes block 0 (198.18.0.0/22) without the machine-wide block lock
// and without cleaning other namespaces' devices, so several vantage namespaces each see the same target
// addresses, every one with its own delays. That is how the same target answers in 2 ms from one vantage
// and in 9 ms from another. The caller must own the namespace: nothing else may route the block there.
func StartPrivate(ctx context.Context, cfg Config) (*Lab, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	reserveProcs()
	const block = 0
	l := &Lab{
		logger: cfg.Logger, block: block, prefix: blockPrefix(block),
		hostFd: -1, targetFd: -1, nsFd: -1, stopFd: -1, closed: make(chan struct{}),
	}
	l.hostAddr = l.prefix.Addr().Next()
	l.device = fmt.Sprintf("%s%dh", devicePrefix, block)
	if err := l.build(ctx, cfg.Targets); err != nil {
		l.teardown()
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			l.Close()
		case <-l.closed:
		}
	}()
	l.logger.Info("lab: started in a private namespace", "prefix", l.prefix, "device", l.device, "targets", len(l.endpoints))
	return l, nil
}
