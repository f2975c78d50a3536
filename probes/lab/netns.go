//go:build linux

package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// devicePrefix names every lab device; stale devices of crashed runs are found by it.
const devicePrefix = "vardelab"

// lockDir holds one lock file per address block; a lab holds flock on its block for its lifetime, so
// labs in parallel test binaries never pick the same block or device names.
const lockDir = "/run/varde-lab"

// openTUN creates a non-persistent TUN device named name in the calling thread's network namespace.
// The device disappears when the descriptor is closed, also when the process dies.
func openTUN(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("tun name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	return fd, nil
}

// runIP runs `ip args...` (stdin optional) and returns an error carrying ip's own message.
func runIP(ctx context.Context, stdin string, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// inNewNetns runs f on a locked OS thread that has unshared into a fresh, anonymous network namespace,
// and returns a descriptor of that namespace. The namespace lives as long as the descriptor or anything
// inside it (devices' descriptors, sockets) stays open: the kernel frees it when the process dies.
// Commands started by f (exec) inherit the thread's namespace. The thread is never unlocked, so it
// exits with the goroutine instead of returning to the runtime in the wrong namespace.
func inNewNetns(f func() error) (nsFd int, err error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, fmt.Errorf("unshare network namespace: %w", err)}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{-1, fmt.Errorf("open namespace: %w", err)}
			return
		}
		if err := f(); err != nil {
			unix.Close(fd)
			ch <- result{-1, err}
			return
		}
		ch <- result{fd, nil}
	}()
	r := <-ch
	return r.fd, r.err
}

// claimBlock takes the first free block: its lock file is not held by anyone and no route of the root
// namespace overlaps it. It returns the block number and the locked file (closing it releases the block).
func claimBlock(ctx context.Context) (int, *os.File, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return 0, nil, fmt.Errorf("lock directory: %w", err)
	}
	used, err := routedPrefixes(ctx)
	if err != nil {
		return 0, nil, err
	}
	for n := 0; n < numBlocks; n++ {
		f, ok, err := tryLock(n)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			continue
		}
		p := blockPrefix(n)
		overlap := false
		for _, u := range used {
			// Broader routes (default, 198.0.0.0/8) lose to the block's own /22; anything as specific
			// as the lab range itself belongs to someone else.
			if u.Bits() >= labRange.Bits() && u.Overlaps(p) {
				overlap = true
				break
			}
		}
		if _, err := net.InterfaceByName(fmt.Sprintf("%s%dh", devicePrefix, n)); err == nil {
			overlap = true // a leftover device cleanStale could not remove still has the name
		}
		if overlap {
			// Maybe a stale device of a crashed run that cleanStale could not remove; leave the block.
			f.Close()
			continue
		}
		return n, f, nil
	}
	return 0, nil, fmt.Errorf("no free lab block in %s: all %d in use", labRange, numBlocks)
}

func tryLock(n int) (*os.File, bool, error) {
	f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("block-%d.lock", n)), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("lock block %d: %w", n, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock block %d: %w", n, err)
	}
	return f, true, nil
}

// routedPrefixes lists IPv4 destination prefixes of all routing tables of this namespace.
func routedPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	out, err := exec.CommandContext(ctx, "ip", "-4", "-o", "route", "show", "table", "all").Output()
	if err != nil {
		return nil, fmt.Errorf("ip route show: %w", err)
	}
	var ps []netip.Prefix
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		for i, f := range fields {
			// "local 1.2.3.4 dev ..." / "broadcast ..." put the type first; otherwise the destination is first.
			if i > 1 {
				break
			}
			if p, err := netip.ParsePrefix(f); err == nil {
				ps = append(ps, p)
				break
			}
			if a, err := netip.ParseAddr(f); err == nil && a.Is4() {
				p := netip.PrefixFrom(a, 32)
				ps = append(ps, p)
				break
			}
		}
	}
	return ps, nil
}

// cleanStale removes devices named devicePrefix* (and named namespaces, should anyone have made one)
// whose block lock is not held, i.e. left behind by a lab that crashed. Lab devices normally vanish with
// the process, so this finds something only after unusual deaths (or older lab versions).
func cleanStale(ctx context.Context) []string {
	var removed []string
	out, err := exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			name := strings.TrimSuffix(fields[1], ":")
			if i := strings.IndexByte(name, '@'); i >= 0 {
				name = name[:i]
			}
			if !strings.HasPrefix(name, devicePrefix) {
				continue
			}
			n, err := strconv.Atoi(strings.TrimRight(strings.TrimPrefix(name, devicePrefix), "ht"))
			if err != nil {
				continue
			}
			f, ok, _ := tryLock(n)
			if !ok {
				continue // a live lab owns it
			}
			if runIP(ctx, "", "link", "del", name) == nil {
				removed = append(removed, name)
			}
			f.Close()
		}
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || !strings.HasPrefix(fields[0], devicePrefix) {
				continue
			}
			if runIP(ctx, "", "netns", "del", fields[0]) == nil {
				removed = append(removed, "netns "+fields[0])
			}
		}
	}
	return removed
}
