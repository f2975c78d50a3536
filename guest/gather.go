package guest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/varde/varde/audit/tuning"
	"github.com/varde/varde/guest/mycnf"
	"github.com/varde/varde/guest/nginxconf"
	"github.com/varde/varde/guest/xencfg"
)

// Config controls collection. Zero values take the defaults below.
type Config struct {
	// StealInterval is the time between the two /proc/stat samples on a live system (default 2s).
	StealInterval time.Duration
	// IO configures the direct-I/O measurement on a live system.
	IO IOConfig
	// SkipIO turns the disk measurement off (the I/O checks then report notapplicable).
	SkipIO bool
	// Now is the clock (default time.Now); tests inject a fixed one.
	Now func() time.Time
	// Sleep waits between steal samples (default: a ctx-aware timer); tests inject a no-op.
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

const defaultStealInterval = 2 * time.Second

func (c Config) withDefaults() (Config, error) {
	if c.StealInterval == 0 {
		c.StealInterval = defaultStealInterval
	}
	if c.StealInterval < 0 || c.StealInterval > time.Minute {
		return c, fmt.Errorf("steal interval %s out of range (0, 1m]", c.StealInterval)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleepCtx
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	io, err := c.IO.withDefaults()
	if err != nil {
		return c, err
	}
	c.IO = io
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Gather collects every fact from root: files, two steal samples and, on a live root, the disk measurement.
func Gather(ctx context.Context, root Root, cfg Config) (tuning.Facts, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return tuning.Facts{}, err
	}
	samples, err := stealSamples(ctx, root, cfg)
	if err != nil && ctx.Err() != nil {
		return tuning.Facts{}, err
	}
	f := gatherFiles(root.FS)
	f.Root = root.Kind
	f.Steal = stealFacts(samples, err)
	if root.Kind == tuning.RootLive && !cfg.SkipIO {
		d, err := MeasureDiskIO(ctx, cfg.IO)
		if err != nil {
			return tuning.Facts{}, err // only a cancelled ctx; measurement failures are in d
		}
		f.DiskIO = &d
	}
	return f, nil
}

// stealSamples returns the /proc/stat readings: the manifest's two, two taken live an interval apart,
// or a single one for a plain directory.
func stealSamples(ctx context.Context, root Root, cfg Config) ([]StatSample, error) {
	if root.Manifest != nil && len(root.Manifest.StatSamples) > 0 {
		return root.Manifest.StatSamples, nil
	}
	first, err := readStat(root.FS, cfg.Now)
	if err != nil || root.Kind != tuning.RootLive {
		return []StatSample{first}, err
	}
	if err := cfg.Sleep(ctx, cfg.StealInterval); err != nil {
		return nil, err
	}
	second, err := readStat(root.FS, cfg.Now)
	return []StatSample{first, second}, err
}

func readStat(fsys fs.FS, now func() time.Time) (StatSample, error) {
	b, err := readFile(fsys, "proc/stat")
	if err != nil {
		return StatSample{}, fmt.Errorf("/proc/stat: %w", err)
	}
	return StatSample{At: now().UTC(), Text: string(b)}, nil
}

func stealFacts(samples []StatSample, err error) tuning.StealFacts {
	if err != nil {
		return tuning.StealFacts{Err: err}
	}
	var s tuning.StealFacts
	for i, smp := range samples {
		c, err := ParseProcStat(smp.Text)
		if err != nil {
			return tuning.StealFacts{Err: fmt.Errorf("/proc/stat sample %d: %w", i+1, err)}
		}
		c.At = smp.At
		s.Samples = append(s.Samples, c)
	}
	return s
}

// ParseProcStat reads the aggregate "cpu" line of /proc/stat.
func ParseProcStat(text string) (tuning.CPUSample, error) {
	for n, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "cpu" {
			continue
		}
		vals := fields[1:]
		if len(vals) < 8 {
			return tuning.CPUSample{}, fmt.Errorf("line %d: cpu line has %d values, want at least 8 (user..steal)", n+1, len(vals))
		}
		var v [10]uint64
		for i := 0; i < len(vals) && i < 10; i++ {
			x, err := strconv.ParseUint(vals[i], 10, 64)
			if err != nil {
				return tuning.CPUSample{}, fmt.Errorf("line %d: value %d %q is not a counter", n+1, i+1, vals[i])
			}
			v[i] = x
		}
		return tuning.CPUSample{User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4], IRQ: v[5],
			SoftIRQ: v[6], Steal: v[7], Guest: v[8], GuestNice: v[9]}, nil
	}
	return tuning.CPUSample{}, errors.New(`no "cpu" line`)
}

func readTrim(fsys fs.FS, name string) (string, error) {
	b, err := readFile(fsys, name)
	if err != nil {
		return "", fmt.Errorf("/%s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// gatherFiles reads every file-based fact. It is also what Collect runs over a recording FS, so a snapshot
// holds exactly the files these reads touched.
func gatherFiles(fsys fs.FS) tuning.Facts {
	var f tuning.Facts
	f.Host, _ = readTrim(fsys, "proc/sys/kernel/hostname")
	if f.Host == "" {
		f.Host, _ = readTrim(fsys, "etc/hostname")
	}
	f.Kernel, _ = readTrim(fsys, "proc/sys/kernel/osrelease")
	f.CPU, f.Virt.CPUHypervisorFlag = gatherCPU(fsys)
	f.Virt = gatherVirt(fsys, f.Virt.CPUHypervisorFlag)
	f.Block = gatherBlock(fsys)
	f.Clock = gatherClock(fsys)
	f.Memory = gatherMemory(fsys)
	f.Nginx = gatherNginx(fsys)
	f.MySQL = gatherMySQL(fsys)
	f.Xen = gatherXen(fsys)
	return f
}

func gatherCPU(fsys fs.FS) (tuning.CPUFacts, bool) {
	b, err := readFile(fsys, "proc/cpuinfo")
	if err != nil {
		return tuning.CPUFacts{Err: fmt.Errorf("/proc/cpuinfo: %w", err)}, false
	}
	n, hyp := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			n++
		case "flags":
			for _, fl := range strings.Fields(v) {
				if fl == "hypervisor" {
					hyp = true
				}
			}
		}
	}
	if n == 0 {
		return tuning.CPUFacts{Err: errors.New(`/proc/cpuinfo: no "processor" lines`)}, hyp
	}
	return tuning.CPUFacts{VCPUs: n}, hyp
}

var dmiKeys = []string{"sys_vendor", "product_name", "product_version", "board_vendor", "bios_vendor", "bios_version", "chassis_vendor"}

func gatherVirt(fsys fs.FS, hypFlag bool) tuning.VirtFacts {
	v := tuning.VirtFacts{CPUHypervisorFlag: hypFlag, DMI: map[string]string{}}
	soft := func(name string) string {
		s, err := readTrim(fsys, name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && v.Err == nil && !errors.Is(err, fs.ErrPermission) {
			v.Err = err
		}
		return s
	}
	for _, k := range dmiKeys {
		if s := soft("sys/class/dmi/id/" + k); s != "" {
			v.DMI[k] = s
		}
	}
	v.ProcXen = exists(fsys, "proc/xen")
	v.XenCapabilities = soft("proc/xen/capabilities")
	v.HypervisorType = soft("sys/hypervisor/type")
	v.HypervisorGuest = soft("sys/hypervisor/guest_type")
	v.ProcVZ = exists(fsys, "proc/vz")
	v.ProcBC = exists(fsys, "proc/bc")
	v.DockerEnv = exists(fsys, ".dockerenv")
	v.ContainerEnv = exists(fsys, "run/.containerenv")
	v.SystemdContainer = soft("run/systemd/container")
	v.Cgroup1 = soft("proc/1/cgroup")
	// /proc/1/environ is often unreadable even to root inside a container (ptrace rules); systemd treats
	// that as "no signal", and so do we.
	if b, err := readFile(fsys, "proc/1/environ"); err == nil {
		for _, kv := range strings.Split(string(b), "\x00") {
			if c, ok := strings.CutPrefix(kv, "container="); ok {
				v.EnvironContainer = c
			}
		}
	}
	return v
}

// skipBlock names devices that are not disks a scheduler should be tuned for.
func skipBlock(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func gatherBlock(fsys fs.FS) tuning.BlockFacts {
	ents, err := fs.ReadDir(fsys, "sys/block")
	if err != nil {
		return tuning.BlockFacts{Err: fmt.Errorf("/sys/block: %w", err)}
	}
	var bf tuning.BlockFacts
	for _, e := range ents {
		name := e.Name()
		if skipBlock(name) {
			continue
		}
		dir := "sys/block/" + name
		sched, err := readTrim(fsys, dir+"/queue/scheduler")
		if errors.Is(err, fs.ErrNotExist) {
			continue // no request queue: nothing to schedule
		}
		d := tuning.BlockDevice{Name: name}
		if err != nil {
			d.Err = err
			bf.Devices = append(bf.Devices, d)
			continue
		}
		for _, s := range strings.Fields(sched) {
			if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
				s = strings.Trim(s, "[]")
				d.Active = s
			}
			d.Schedulers = append(d.Schedulers, s)
		}
		if d.Active == "" && len(d.Schedulers) == 1 {
			d.Active = d.Schedulers[0] // "none" alone is printed without brackets
		}
		if d.Active == "" {
			d.Err = fmt.Errorf("/%s/queue/scheduler: no active scheduler in %q", dir, sched)
		}
		rot, err := readTrim(fsys, dir+"/queue/rotational")
		switch {
		case err == nil && (rot == "0" || rot == "1"):
			d.Rotational = rot == "1"
		case err == nil:
			d.Err = fmt.Errorf("/%s/queue/rotational: %q is not 0 or 1", dir, rot)
		case !errors.Is(err, fs.ErrNotExist):
			d.Err = err
		}
		d.BlkMQ = exists(fsys, dir+"/mq")
		for _, s := range d.Schedulers {
			if s == "none" || s == "mq-deadline" || s == "kyber" || s == "bfq" {
				d.BlkMQ = true
			}
		}
		bf.Devices = append(bf.Devices, d)
	}
	sort.Slice(bf.Devices, func(i, j int) bool { return bf.Devices[i].Name < bf.Devices[j].Name })
	return bf
}

func gatherClock(fsys fs.FS) tuning.ClockFacts {
	const dir = "sys/devices/system/clocksource/clocksource0/"
	cur, err := readTrim(fsys, dir+"current_clocksource")
	if err != nil {
		return tuning.ClockFacts{Err: err}
	}
	av, err := readTrim(fsys, dir+"available_clocksource")
	if err != nil {
		return tuning.ClockFacts{Err: err}
	}
	return tuning.ClockFacts{Current: cur, Available: strings.Fields(av)}
}

func readInt(fsys fs.FS, name string) (int64, error) {
	s, err := readTrim(fsys, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/%s: %q is not a number", name, s)
	}
	return n, nil
}

func gatherMemory(fsys fs.FS) tuning.MemoryFacts {
	var m tuning.MemoryFacts
	if b, err := readFile(fsys, "proc/meminfo"); err != nil {
		m.MemErr = fmt.Errorf("/proc/meminfo: %w", err)
	} else {
		m.MemErr = errors.New("/proc/meminfo: no MemTotal line")
		for n, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				fields := strings.Fields(rest)
				kb, err := strconv.ParseInt(strings.Join(fields[:min(1, len(fields))], ""), 10, 64)
				if err != nil || kb <= 0 {
					m.MemErr = fmt.Errorf("/proc/meminfo:%d: bad MemTotal %q", n+1, strings.TrimSpace(rest))
				} else {
					m.MemTotalKB, m.MemErr = kb, nil
				}
				break
			}
		}
	}
	// Balloon signals.
	if ents, err := fs.ReadDir(fsys, "sys/bus/virtio/drivers/virtio_balloon"); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "virtio") {
				m.VirtioBalloonBound = true
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		m.BalloonErr = fmt.Errorf("/sys/bus/virtio/drivers/virtio_balloon: %w", err)
	}
	const xm = "sys/devices/system/xen_memory/xen_memory0/"
	if exists(fsys, strings.TrimSuffix(xm, "/")) {
		m.XenBalloon = true
		var err1, err2 error
		m.XenTargetKB, err1 = readInt(fsys, xm+"target_kb")
		m.XenCurrentKB, err2 = readInt(fsys, xm+"info/current_kb")
		if err := errors.Join(err1, err2); err != nil && m.BalloonErr == nil {
			m.BalloonErr = err
		}
	} else if b, err := readFile(fsys, "proc/xen/balloon"); err == nil {
		m.XenBalloon = true
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch strings.TrimSpace(k) {
			case "Current allocation":
				m.XenCurrentKB = n
			case "Requested target":
				m.XenTargetKB = n
			}
		}
	}
	if b, err := readFile(fsys, "proc/modules"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			name := strings.Fields(line + " ")[0]
			if strings.Contains(name, "balloon") && name != "virtio_balloon" && name != "xen_balloon" {
				m.BalloonModules = append(m.BalloonModules, name)
			}
		}
	}
	var err error
	var n int64
	if n, err = readInt(fsys, "proc/sys/vm/overcommit_memory"); err != nil {
		m.OvercommitErr = err
		return m
	}
	m.OvercommitMemory = int(n)
	if n, err = readInt(fsys, "proc/sys/vm/overcommit_ratio"); err != nil {
		m.OvercommitErr = err
		return m
	}
	m.OvercommitRatio = int(n)
	// overcommit_kbytes appeared in Linux 3.14; older kernels (the seed's 2.6.32) lack it.
	if n, err = readInt(fsys, "proc/sys/vm/overcommit_kbytes"); err == nil {
		m.OvercommitKB = n
	} else if !errors.Is(err, fs.ErrNotExist) {
		m.OvercommitErr = err
	}
	return m
}

// nginxConfigs are where distributions and source builds put nginx.conf; the first that exists is used.
var nginxConfigs = []string{"etc/nginx/nginx.conf", "usr/local/nginx/conf/nginx.conf", "usr/local/etc/nginx/nginx.conf", "opt/nginx/conf/nginx.conf"}

func gatherNginx(fsys fs.FS) tuning.NginxFacts {
	for _, name := range nginxConfigs {
		_, err := fs.Stat(fsys, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return tuning.NginxFacts{Present: true, Err: fmt.Errorf("/%s: %w", name, err)}
		}
		c, err := nginxconf.Parse(fsys, name)
		return tuning.NginxFacts{Present: true, Config: c, Err: err}
	}
	return tuning.NginxFacts{}
}

// myCnfs are the global option files in the order the server reads them.
var myCnfs = []string{"etc/my.cnf", "etc/mysql/my.cnf", "usr/etc/my.cnf"}

func gatherMySQL(fsys fs.FS) tuning.MySQLFacts {
	var out tuning.MySQLFacts
	merged := &mycnf.Config{}
	for _, name := range myCnfs {
		_, err := fs.Stat(fsys, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		out.Present = true
		if err != nil {
			out.Err = fmt.Errorf("/%s: %w", name, err)
			return out
		}
		c, err := mycnf.Parse(fsys, name)
		if err != nil {
			out.Err = err
			return out
		}
		merged.Files = append(merged.Files, c.Files...)
		merged.Options = append(merged.Options, c.Options...)
	}
	if out.Present {
		out.Config = merged
	}
	return out
}

func gatherXen(fsys fs.FS) []tuning.XenDomU {
	var out []tuning.XenDomU
	err := fs.WalkDir(fsys, "etc/xen", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "etc/xen" {
				return err
			}
			out = append(out, tuning.XenDomU{File: "/" + p, Err: fmt.Errorf("/%s: %w", p, err)})
			return nil
		}
		if d.IsDir() {
			if strings.Count(p, "/") > 3 { // etc/xen/<dir>/<dir>: deep enough for configs/ and auto/
				return fs.SkipDir
			}
			return nil
		}
		if path.Ext(p) != ".cfg" {
			return nil
		}
		b, err := readFile(fsys, p)
		if err != nil {
			out = append(out, tuning.XenDomU{File: "/" + p, Err: fmt.Errorf("/%s: %w", p, err)})
			return nil
		}
		c, err := xencfg.Parse("/"+p, b)
		out = append(out, tuning.XenDomU{File: "/" + p, Config: c, Err: err})
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		out = append(out, tuning.XenDomU{File: "/etc/xen", Err: fmt.Errorf("/etc/xen: %w", err)})
	}
	return out
}
