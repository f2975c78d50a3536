package tuning

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/varde/varde/guest/mycnf"
	"github.com/varde/varde/guest/xencfg"
)

// Evaluate judges facts into results, in a fixed order: catalogue order of checks, then subject.
func Evaluate(f Facts) []Result {
	var out []Result
	out = append(out, virtType(f))
	out = append(out, ioScheduler(f)...)
	out = append(out, clockSource(f))
	out = append(out, cpuSteal(f))
	out = append(out, ioThroughput(f), ioIOPS(f))
	out = append(out, memBalloon(f), memOvercommit(f))
	out = append(out, nginxChecks(f)...)
	out = append(out, mysqlBufferPool(f))
	out = append(out, xenChecks(f)...)
	return out
}

// Virtualization is the judged environment.
type Virtualization struct {
	// Container is docker, podman, lxc, openvz, systemd-nspawn or "" (none seen).
	Container string
	// VM is xen, kvm, qemu, vmware, microsoft, oracle (VirtualBox), amazon, google, "hypervisor" (unknown), or "" (bare metal).
	VM string
	// XenMode is "PV", "HVM" or "PVH" for Xen, XenRole "dom0" or "domU".
	XenMode, XenRole string
	Signals          []string
}

func (v Virtualization) String() string {
	vm := "bare metal"
	if v.VM != "" {
		vm = v.VM
		if v.VM == "xen" {
			vm = "xen " + v.XenMode + " " + v.XenRole
		}
	}
	if v.Container != "" {
		return v.Container + " container on " + vm
	}
	return vm
}

var dmiVendors = []struct{ sub, vm string }{
	{"KVM", "kvm"}, {"QEMU", "qemu"}, {"VMware", "vmware"}, {"VMW", "vmware"}, {"innotek GmbH", "oracle"},
	{"VirtualBox", "oracle"}, {"Xen", "xen"}, {"Bochs", "bochs"}, {"Parallels", "parallels"},
	{"BHYVE", "bhyve"}, {"Hyper-V", "microsoft"}, {"Microsoft Corporation", "microsoft"},
	{"Amazon EC2", "amazon"}, {"Google Compute Engine", "google"}, {"Apple Virtualization", "apple"},
}

// DetectVirt applies systemd-detect-virt's order: containers first, then VM signals.
func DetectVirt(v VirtFacts, availableClocks []string) Virtualization {
	var r Virtualization
	sig := func(s string) { r.Signals = append(r.Signals, s) }
	switch {
	case v.ProcVZ && !v.ProcBC:
		r.Container = "openvz"
		sig("/proc/vz without /proc/bc")
	case v.DockerEnv:
		r.Container = "docker"
		sig("/.dockerenv")
	case v.ContainerEnv:
		r.Container = "podman"
		sig("/run/.containerenv")
	case v.EnvironContainer != "":
		r.Container = v.EnvironContainer
		sig("container=" + v.EnvironContainer + " in /proc/1/environ")
	case v.SystemdContainer != "":
		r.Container = v.SystemdContainer
		sig("/run/systemd/container")
	default:
		for _, l := range strings.Split(v.Cgroup1, "\n") {
			switch {
			case strings.Contains(l, "/docker/") || strings.Contains(l, "docker-"):
				r.Container = "docker"
			case strings.Contains(l, "/lxc/"):
				r.Container = "lxc"
			case strings.Contains(l, "kubepods"):
				r.Container = "kubernetes"
			}
			if r.Container != "" {
				sig("/proc/1/cgroup")
				break
			}
		}
	}
	// Xen first, as systemd does: a Xen HVM guest's DMI may also say Xen, a PV guest has none.
	if v.ProcXen || v.HypervisorType == "xen" {
		r.VM = "xen"
		r.XenRole = "domU"
		if strings.Contains(v.XenCapabilities, "control_d") {
			r.XenRole = "dom0"
			sig("/proc/xen/capabilities control_d")
		}
		switch {
		case v.HypervisorGuest != "":
			r.XenMode = strings.ToUpper(v.HypervisorGuest)
			sig("/sys/hypervisor/guest_type " + v.HypervisorGuest)
		case len(v.DMI) == 0 && !v.CPUHypervisorFlag:
			r.XenMode = "PV"
			sig("no DMI and no cpuinfo hypervisor flag")
		case len(v.DMI) == 0:
			r.XenMode = "PV"
			sig("no DMI")
		default:
			r.XenMode = "HVM"
			sig("DMI present")
		}
		if v.ProcXen {
			sig("/proc/xen")
		}
		if v.HypervisorType != "" {
			sig("/sys/hypervisor/type " + v.HypervisorType)
		}
		return r
	}
	for _, key := range []string{"sys_vendor", "product_name", "board_vendor", "bios_vendor", "bios_version"} {
		val := v.DMI[key]
		for _, d := range dmiVendors {
			if val != "" && strings.Contains(val, d.sub) {
				r.VM = d.vm
				sig("DMI " + key + "=" + val)
				break
			}
		}
		if r.VM != "" {
			break
		}
	}
	// QEMU DMI with the kvm paravirtual clock is KVM acceleration, as systemd's cpuid check would say.
	if r.VM == "qemu" && contains(availableClocks, "kvm-clock") {
		r.VM = "kvm"
		sig("clocksource kvm-clock available")
	}
	if r.VM == "" && v.HypervisorType != "" {
		r.VM = v.HypervisorType
		sig("/sys/hypervisor/type")
	}
	if r.VM == "" && v.CPUHypervisorFlag {
		r.VM = "hypervisor"
		sig("cpuinfo hypervisor flag")
		// cpuid is not readable from files; the paravirtual clocksource names the hypervisor instead.
		for _, c := range availableClocks {
			switch c {
			case "kvm-clock":
				r.VM = "kvm"
			case "hyperv_clocksource_tsc_page":
				r.VM = "microsoft"
			}
			if r.VM != "hypervisor" {
				sig("clocksource " + c + " available")
				break
			}
		}
	}
	return r
}

func virtType(f Facts) Result {
	const exp = "a full or paravirtualized VM (Xen, KVM, ...) or bare metal; not an OpenVZ container"
	if f.Virt.Err != nil {
		return errResult(IDVirtType, "", f.Virt.Err, exp)
	}
	v := DetectVirt(f.Virt, f.Clock.Available)
	obs := v.String()
	if len(v.Signals) > 0 {
		obs += " (signals: " + strings.Join(v.Signals, "; ") + ")"
	} else {
		obs += " (no virtualization signal)"
	}
	switch v.Container {
	case "openvz":
		return result(IDVirtType, "", Warn, obs, exp,
			"# OpenVZ shares the host kernel: move the workload to a Xen or KVM guest with reserved RAM and CPU")
	case "":
		return result(IDVirtType, "", Pass, obs, exp)
	}
	return result(IDVirtType, "", Pass, obs+"; kernel-level checks below describe the host VM", exp)
}

func isVirtualDisk(name string) bool {
	return strings.HasPrefix(name, "vd") || strings.HasPrefix(name, "xvd")
}

func ioScheduler(f Facts) []Result {
	const exp = "blk-mq: none or mq-deadline; legacy: noop or deadline (virtual or non-rotational disks)"
	if f.Block.Err != nil {
		if errors.Is(f.Block.Err, fs.ErrNotExist) {
			return []Result{naResult(IDIOScheduler, "", "no /sys/block visible (container without block devices)", exp)}
		}
		return []Result{errResult(IDIOScheduler, "", f.Block.Err, exp)}
	}
	if len(f.Block.Devices) == 0 {
		return []Result{naResult(IDIOScheduler, "", "no block device with an I/O scheduler", exp)}
	}
	inVM := DetectVirt(f.Virt, f.Clock.Available).VM != ""
	var out []Result
	for _, d := range f.Block.Devices {
		if d.Err != nil {
			out = append(out, errResult(IDIOScheduler, d.Name, d.Err, exp))
			continue
		}
		queue := "legacy"
		if d.BlkMQ {
			queue = "blk-mq"
		}
		obs := fmt.Sprintf("%s active, offered [%s], rotational=%d, %s", d.Active, strings.Join(d.Schedulers, " "),
			b2i(d.Rotational), queue)
		virtual := inVM || isVirtualDisk(d.Name)
		spinning := d.Rotational && !virtual
		if d.Rotational && virtual {
			obs += " (virtual disk: rotational flag is the hypervisor's default, not the media)"
		}
		good := map[string]bool{"none": true, "mq-deadline": true, "noop": true, "deadline": true, "kyber": true}
		if spinning {
			good["cfq"], good["bfq"] = true, true
		}
		var want string
		switch {
		case d.BlkMQ && spinning:
			want = "mq-deadline"
		case d.BlkMQ:
			want = "none"
		case spinning:
			want = "deadline"
		default:
			want = "noop"
		}
		if !contains(d.Schedulers, want) {
			for _, alt := range []string{"none", "mq-deadline", "noop", "deadline"} {
				if contains(d.Schedulers, alt) {
					want = alt
					break
				}
			}
		}
		expected := exp
		if spinning {
			expected = "spinning disk: mq-deadline/bfq (blk-mq) or deadline/cfq (legacy)"
		}
		if good[d.Active] {
			out = append(out, result(IDIOScheduler, d.Name, Pass, obs, expected))
			continue
		}
		if d.Active == "" {
			out = append(out, result(IDIOScheduler, d.Name, Error, obs+": no active scheduler marked in queue/scheduler", expected))
			continue
		}
		rem := []string{fmt.Sprintf("echo %s > /sys/block/%s/queue/scheduler", want, d.Name)}
		if d.BlkMQ {
			rem = append(rem,
				fmt.Sprintf(`echo 'ACTION=="add|change", KERNEL=="%s", ATTR{queue/scheduler}="%s"' > /etc/udev/rules.d/60-varde-scheduler-%s.rules`, d.Name, want, d.Name),
				fmt.Sprintf("udevadm control --reload && udevadm trigger --action=change --subsystem-match=block --sysname-match=%s", d.Name))
		} else {
			rem = append(rem,
				fmt.Sprintf(`grubby --update-kernel=ALL --args="elevator=%s"   # or append elevator=%s to the kernel line in /boot/grub/menu.lst`, want, want))
		}
		out = append(out, result(IDIOScheduler, d.Name, Warn, obs, expected, rem...))
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func clockSource(f Facts) Result {
	const exp = "xen, kvm-clock, tsc (or another paravirtual clock); xen when the xen clocksource is available"
	if f.Clock.Err != nil {
		if errors.Is(f.Clock.Err, fs.ErrNotExist) {
			return naResult(IDClockSource, "", "no clocksource in /sys (container without sysfs clocksource)", exp)
		}
		return errResult(IDClockSource, "", f.Clock.Err, exp)
	}
	obs := fmt.Sprintf("current %s, available %s", f.Clock.Current, strings.Join(f.Clock.Available, " "))
	fix := func(c string) []string {
		return []string{
			fmt.Sprintf("echo %s > /sys/devices/system/clocksource/clocksource0/current_clocksource", c),
			fmt.Sprintf(`grubby --update-kernel=ALL --args="clocksource=%s"   # or add clocksource=%s to GRUB_CMDLINE_LINUX and run update-grub`, c, c),
		}
	}
	if f.Clock.Current != "xen" && contains(f.Clock.Available, "xen") {
		return result(IDClockSource, "", Warn, obs+" (xen available but not used)", exp, fix("xen")...)
	}
	switch f.Clock.Current {
	case "xen", "kvm-clock", "tsc", "hyperv_clocksource_tsc_page", "arch_sys_counter", "vmw-vmci", "lguest":
		return result(IDClockSource, "", Pass, obs, exp)
	case "":
		return result(IDClockSource, "", Error, "current_clocksource is empty", exp)
	}
	better := ""
	for _, c := range []string{"kvm-clock", "hyperv_clocksource_tsc_page", "tsc"} {
		if contains(f.Clock.Available, c) {
			better = c
			break
		}
	}
	if better == "" {
		return result(IDClockSource, "", Warn, obs+" (no better clocksource offered)", exp)
	}
	return result(IDClockSource, "", Warn, obs, exp, fix(better)...)
}

// StealPercent is the steal share of CPU time between the first and last sample, or since boot with one.
func StealPercent(s StealFacts) (pct float64, over string, err error) {
	switch len(s.Samples) {
	case 0:
		return 0, "", errors.New("no /proc/stat sample")
	case 1:
		t := s.Samples[0].Total()
		if t == 0 {
			return 0, "", errors.New("/proc/stat cpu line is all zero")
		}
		return 100 * float64(s.Samples[0].Steal) / float64(t), "since boot", nil
	}
	a, b := s.Samples[0], s.Samples[len(s.Samples)-1]
	if b.Total() < a.Total() || b.Steal < a.Steal {
		return 0, "", errors.New("/proc/stat counters went backwards between samples")
	}
	dt := b.Total() - a.Total()
	if dt == 0 {
		return 0, "", errors.New("no CPU time passed between the two /proc/stat samples")
	}
	over = fmt.Sprintf("over %d ticks", dt)
	if !a.At.IsZero() && !b.At.IsZero() {
		over = fmt.Sprintf("over %s", b.At.Sub(a.At).Round(1e6))
	}
	return 100 * float64(b.Steal-a.Steal) / float64(dt), over, nil
}

func cpuSteal(f Facts) Result {
	exp := fmt.Sprintf("steal < %.0f%% (warn from %.0f%%, fail from %.0f%%)", StealWarnPct, StealWarnPct, StealFailPct)
	if f.Steal.Err != nil {
		return errResult(IDCPUSteal, "", f.Steal.Err, exp)
	}
	pct, over, err := StealPercent(f.Steal)
	if err != nil {
		return errResult(IDCPUSteal, "", err, exp)
	}
	obs := fmt.Sprintf("steal %.1f%% %s", pct, over)
	rem := "# steal is the host's doing: ask the provider for dedicated cores or move to a host that does not oversell"
	switch {
	case pct >= StealFailPct:
		return result(IDCPUSteal, "", Fail, obs, exp, rem)
	case pct >= StealWarnPct:
		return result(IDCPUSteal, "", Warn, obs, exp, rem)
	}
	return result(IDCPUSteal, "", Pass, obs, exp)
}

func ioThroughput(f Facts) Result {
	exp := fmt.Sprintf(">= %.0f MB/s (seed's SSD figure); below %.0f MB/s fails", ThroughputPassMBps, ThroughputFailMBps)
	if f.DiskIO == nil {
		return naResult(IDIOThroughput, "", "measured on a live system only (root is "+string(f.Root)+")", exp)
	}
	d := f.DiskIO
	if d.WriteErr != nil {
		return errResult(IDIOThroughput, d.Dir, d.WriteErr, exp)
	}
	if d.WriteElapsed <= 0 {
		return result(IDIOThroughput, d.Dir, Error, "no time measured", exp)
	}
	mbps := float64(d.WriteBytes) / 1e6 / d.WriteElapsed.Seconds()
	obs := fmt.Sprintf("%.1f MB/s (%d MiB in %s, bs=1M O_DIRECT)", mbps, d.WriteBytes>>20, d.WriteElapsed.Round(1e6))
	rem := "# storage is the host's: ask for SSD-backed storage or move the data to a faster volume"
	switch {
	case mbps >= ThroughputPassMBps:
		return result(IDIOThroughput, d.Dir, Pass, obs, exp)
	case mbps < ThroughputFailMBps:
		return result(IDIOThroughput, d.Dir, Fail, obs, exp, rem)
	}
	return result(IDIOThroughput, d.Dir, Warn, obs, exp, rem)
}

func ioIOPS(f Facts) Result {
	exp := fmt.Sprintf(">= %.0f IOPS; <= %.0f IOPS (15k SAS class) fails", IOPSPassMin, IOPSFailMax)
	if f.DiskIO == nil {
		return naResult(IDIOIOPS, "", "measured on a live system only (root is "+string(f.Root)+")", exp)
	}
	d := f.DiskIO
	if d.ReadErr != nil {
		return errResult(IDIOIOPS, d.Dir, d.ReadErr, exp)
	}
	if d.ReadElapsed <= 0 {
		return result(IDIOIOPS, d.Dir, Error, "no time measured", exp)
	}
	iops := float64(d.ReadOps) / d.ReadElapsed.Seconds()
	obs := fmt.Sprintf("%.0f IOPS (%d random 4 KiB O_DIRECT reads in %s, queue depth 1)", iops, d.ReadOps, d.ReadElapsed.Round(1e6))
	rem := "# random-read latency is the host's storage: ask for SSD-backed storage"
	switch {
	case iops >= IOPSPassMin:
		return result(IDIOIOPS, d.Dir, Pass, obs, exp)
	case iops <= IOPSFailMax:
		return result(IDIOIOPS, d.Dir, Fail, obs, exp, rem)
	}
	return result(IDIOIOPS, d.Dir, Warn, obs, exp, rem)
}

func memBalloon(f Facts) Result {
	const exp = "no balloon able to reclaim memory, or a Xen balloon at its full allocation"
	m := f.Memory
	if m.BalloonErr != nil {
		return errResult(IDMemBalloon, "", m.BalloonErr, exp)
	}
	var seen []string
	st := Pass
	if m.VirtioBalloonBound {
		seen = append(seen, "virtio_balloon device bound (the host can inflate it and take memory back)")
		st = Warn
	}
	for _, mod := range m.BalloonModules {
		seen = append(seen, mod+" module loaded")
		st = Warn
	}
	if m.XenBalloon {
		switch {
		case m.XenTargetKB > 0 && m.XenCurrentKB > 0 && m.XenTargetKB < m.XenCurrentKB:
			seen = append(seen, fmt.Sprintf("xen balloon target %d kB below current %d kB (being reclaimed)", m.XenTargetKB, m.XenCurrentKB))
			st = Warn
		case m.XenTargetKB > 0:
			seen = append(seen, fmt.Sprintf("xen balloon at target %d kB (current %d kB): nothing reclaimed", m.XenTargetKB, m.XenCurrentKB))
		default:
			seen = append(seen, "xen balloon driver present")
		}
	}
	if len(seen) == 0 {
		return result(IDMemBalloon, "", Pass, "no balloon driver seen", exp)
	}
	obs := strings.Join(seen, "; ")
	if st == Warn {
		return result(IDMemBalloon, "", Warn, obs, exp,
			"# ask the provider to reserve the guest's memory (Xen: memory = maxmem in the domU cfg; KVM: no balloon device or a fixed balloon)")
	}
	return result(IDMemBalloon, "", Pass, obs, exp)
}

func memOvercommit(f Facts) Result {
	const exp = "vm.overcommit_memory 0 (heuristic) or 2 (strict)"
	m := f.Memory
	if m.OvercommitErr != nil {
		return errResult(IDMemOvercommit, "", m.OvercommitErr, exp)
	}
	obs := fmt.Sprintf("vm.overcommit_memory=%d, vm.overcommit_ratio=%d, vm.overcommit_kbytes=%d", m.OvercommitMemory, m.OvercommitRatio, m.OvercommitKB)
	switch m.OvercommitMemory {
	case 0, 2:
		return result(IDMemOvercommit, "", Pass, obs, exp)
	case 1:
		return result(IDMemOvercommit, "", Warn, obs+" (always overcommit)", exp,
			"sysctl -w vm.overcommit_memory=0",
			"echo 'vm.overcommit_memory = 0' > /etc/sysctl.d/60-varde-overcommit.conf")
	}
	return result(IDMemOvercommit, "", Error, obs+": unknown mode", exp)
}

// nginxSeconds reads an nginx time ("15", "15s", "1m", "75s 60s" first value).
func nginxSeconds(v string) (float64, error) {
	v = strings.Fields(v + " ")[0]
	units := map[byte]float64{'s': 1, 'm': 60, 'h': 3600, 'd': 86400}
	mult := 1.0
	if strings.HasSuffix(v, "ms") {
		mult, v = 0.001, strings.TrimSuffix(v, "ms")
	} else if len(v) > 0 {
		if u, ok := units[v[len(v)-1]]; ok {
			mult, v = u, v[:len(v)-1]
		}
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not an nginx time value")
	}
	return n * mult, nil
}

// mysqlSections are the groups mysqld and mariadbd read.
func mysqlSection(s string) bool {
	switch s {
	case "mysqld", "server", "mariadb", "mariadbd":
		return true
	}
	return strings.HasPrefix(s, "mysqld-") || strings.HasPrefix(s, "mariadb-")
}

func mysqlBufferPool(f Facts) Result {
	const exp = "innodb_buffer_pool_size 25-75% of RAM"
	m := f.MySQL
	if !m.Present {
		return naResult(IDMySQLBufferPool, "", "MySQL/MariaDB not configured (no my.cnf found)", exp)
	}
	if m.Err != nil {
		return errResult(IDMySQLBufferPool, "", m.Err, exp)
	}
	subject := m.Config.Files[0]
	if f.Memory.MemErr != nil {
		return errResult(IDMySQLBufferPool, subject, fmt.Errorf("RAM unknown: %w", f.Memory.MemErr), exp)
	}
	var opt *mycnf.Option
	for i := range m.Config.Options {
		o := m.Config.Options[i]
		if o.Key == "innodb_buffer_pool_size" && mysqlSection(o.Section) {
			opt = &m.Config.Options[i]
		}
	}
	size := int64(128 << 20)
	obs := "innodb_buffer_pool_size 128M (default)"
	if opt != nil {
		v, err := mycnf.ParseSize(opt.Value)
		if err != nil {
			return result(IDMySQLBufferPool, subject, Error, fmt.Sprintf("%s:%d: innodb_buffer_pool_size: %v", opt.File, opt.Line, err), exp)
		}
		size = v
		obs = fmt.Sprintf("innodb_buffer_pool_size %s (%s:%d, [%s])", opt.Value, opt.File, opt.Line, opt.Section)
	}
	ram := f.Memory.MemTotalKB * 1024
	if ram <= 0 {
		return result(IDMySQLBufferPool, subject, Error, obs+"; MemTotal is 0", exp)
	}
	pct := 100 * float64(size) / float64(ram)
	obs += fmt.Sprintf(" = %.0f%% of %d MiB RAM", pct, ram>>20)
	target := ram / 2 >> 20
	fix := []string{
		fmt.Sprintf("# under [mysqld] in %s: innodb_buffer_pool_size = %dM", subject, target),
		fmt.Sprintf("mysql -e 'SET GLOBAL innodb_buffer_pool_size = %d'   # MySQL >= 5.7.5 / MariaDB >= 10.2 resize online", target<<20),
	}
	switch {
	case pct > 80:
		return result(IDMySQLBufferPool, subject, Fail, obs, exp, fix...)
	case pct < 25 || pct > 75:
		return result(IDMySQLBufferPool, subject, Warn, obs, exp, fix...)
	}
	return result(IDMySQLBufferPool, subject, Pass, obs, exp)
}

var xenIDs = []string{IDXenMemory, IDXenVCPUs, IDXenLifecycle, IDXenPVBoot, IDXenDisks}

func xenChecks(f Facts) []Result {
	var out []Result
	if len(f.Xen) == 0 {
		for _, id := range xenIDs {
			out = append(out, naResult(id, "", "no Xen domU config files (/etc/xen/**/*.cfg)", "domU cfg files present"))
		}
		return out
	}
	doms := append([]XenDomU(nil), f.Xen...)
	sort.Slice(doms, func(i, j int) bool { return doms[i].File < doms[j].File })
	for _, id := range xenIDs {
		for _, d := range doms {
			if d.Err != nil {
				out = append(out, errResult(id, d.File, d.Err, "a parseable domU cfg"))
				continue
			}
			out = append(out, xenCheck(id, d))
		}
	}
	return out
}

func str(c *xencfg.Config, key string) (string, bool) {
	v, ok := c.Get(key)
	if !ok {
		return "", false
	}
	if v.Kind == xencfg.String {
		return v.Str, true
	}
	return v.String(), true
}

func xenCheck(id string, d XenDomU) Result {
	c := d.Config
	edit := func(line string) string {
		return fmt.Sprintf("# in %s: %s  (takes effect on the next xl create)", d.File, line)
	}
	switch id {
	case IDXenMemory:
		const exp = "memory set, maxmem unset or equal (memory reserved, not ballooned)"
		mem, ok := c.Get("memory")
		if !ok {
			return result(id, d.File, Warn, "memory not set (xl default 128 MB)", exp, edit("memory = 2048"))
		}
		obs := "memory = " + mem.String()
		if mm, ok := c.Get("maxmem"); ok {
			obs += ", maxmem = " + mm.String()
			if mem.Kind == xencfg.Number && mm.Kind == xencfg.Number && mm.Num > mem.Num {
				return result(id, d.File, Warn, obs+" (balloon range: memory above "+mem.Raw+" MB is not reserved)", exp, edit("maxmem = "+mem.Raw))
			}
		}
		if mem.Kind != xencfg.Number {
			return result(id, d.File, Error, obs+": memory is not a number", exp)
		}
		return result(id, d.File, Pass, obs+" MB", exp)
	case IDXenVCPUs:
		const exp = "vcpus set explicitly"
		v, ok := c.Get("vcpus")
		if !ok {
			return result(id, d.File, Warn, "vcpus not set (default 1)", exp, edit("vcpus = 2"))
		}
		obs := "vcpus = " + v.String()
		if mv, ok := c.Get("maxvcpus"); ok {
			obs += ", maxvcpus = " + mv.String()
		}
		return result(id, d.File, Pass, obs, exp)
	case IDXenLifecycle:
		const exp = "on_reboot = 'restart'; on_crash = 'restart' (or coredump-restart, rename-restart, preserve)"
		reb, okR := str(c, "on_reboot")
		cr, okC := str(c, "on_crash")
		if !okR {
			reb = "restart"
		}
		if !okC {
			cr = "destroy"
		}
		obs := fmt.Sprintf("on_reboot = %s%s, on_crash = %s%s", reb, dflt(okR), cr, dflt(okC))
		var fix []string
		if reb != "restart" {
			fix = append(fix, edit("on_reboot = 'restart'"))
		}
		switch cr {
		case "restart", "coredump-restart", "rename-restart", "preserve":
		default:
			fix = append(fix, edit("on_crash = 'restart'"))
		}
		if len(fix) > 0 {
			return result(id, d.File, Warn, obs, exp, fix...)
		}
		return result(id, d.File, Pass, obs, exp)
	case IDXenPVBoot:
		const exp = "PV with kernel=: ramdisk= set as well"
		typ, _ := str(c, "type")
		builder, _ := str(c, "builder")
		if typ == "hvm" || builder == "hvm" {
			return naResult(id, d.File, "HVM guest", exp)
		}
		k, hasK := str(c, "kernel")
		if !hasK {
			if bl, ok := str(c, "bootloader"); ok {
				return naResult(id, d.File, "PV guest booted by bootloader "+bl, exp)
			}
			return naResult(id, d.File, "no kernel= (not a directly booted PV guest)", exp)
		}
		if typ == "pvh" {
			return naResult(id, d.File, "PVH guest with kernel "+k, exp)
		}
		r, hasR := str(c, "ramdisk")
		if !hasR {
			return result(id, d.File, Warn, "PV kernel "+k+" without ramdisk", exp, edit("ramdisk = '/boot/initramfs-<version>.img'"))
		}
		return result(id, d.File, Pass, "PV kernel "+k+", ramdisk "+r, exp)
	case IDXenDisks:
		const exp = "phy: block devices (or xl target=/dev/...; tap:aio accepted), not file: loop images"
		v, ok := c.Get("disk")
		if !ok {
			return naResult(id, d.File, "no disk setting", exp)
		}
		specs := []xencfg.Value{v}
		if v.Kind == xencfg.List {
			specs = v.List
		}
		var obs, bad []string
		for _, s := range specs {
			if s.Kind != xencfg.String {
				return result(id, d.File, Error, "disk entry "+s.String()+" is not a string", exp)
			}
			kind := diskKind(s.Str)
			obs = append(obs, kind+": "+s.Str)
			if kind == "file" || kind == "other" {
				bad = append(bad, s.Str)
			}
		}
		if len(bad) > 0 {
			return result(id, d.File, Warn, strings.Join(obs, "; "), exp,
				edit("replace file: images with an LVM volume: lvcreate -L <size> -n <name> <vg> && dd if=<image> of=/dev/<vg>/<name> bs=1M && disk = [ 'phy:/dev/<vg>/<name>,xvda,w' ]"))
		}
		return result(id, d.File, Pass, strings.Join(obs, "; "), exp)
	}
	panic("guest: unknown xen check " + id)
}

func dflt(set bool) string {
	if set {
		return ""
	}
	return " (default)"
}

// diskKind classifies a disk spec: "phy", "file", "tap" or "other".
func diskKind(spec string) string {
	s := strings.TrimSpace(spec)
	switch {
	case strings.HasPrefix(s, "phy:"):
		return "phy"
	case strings.HasPrefix(s, "file:"):
		return "file"
	case strings.HasPrefix(s, "tap:") || strings.HasPrefix(s, "tap2:"):
		return "tap"
	}
	// xl key=value syntax: target= is last; a /dev/ target is a block device.
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == "target" {
			if strings.HasPrefix(v, "/dev/") {
				return "phy"
			}
			return "file"
		}
	}
	if first := strings.SplitN(s, ",", 2)[0]; strings.HasPrefix(first, "/dev/") {
		return "phy"
	}
	return "other"
}
