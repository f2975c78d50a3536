package tuning

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/guest/mycnf"
	"github.com/varde/varde/guest/nginxconf"
	"github.com/varde/varde/guest/xencfg"
)

func TestDetectVirt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		v      VirtFacts
		clocks []string
		want   string
	}{
		{"bare metal", VirtFacts{DMI: map[string]string{"sys_vendor": "Dell Inc."}}, []string{"tsc", "hpet"}, "bare metal"},
		{"openvz", VirtFacts{ProcVZ: true}, nil, "openvz container on bare metal"},
		{"openvz host node", VirtFacts{ProcVZ: true, ProcBC: true}, nil, "bare metal"},
		{"lxc", VirtFacts{EnvironContainer: "lxc", CPUHypervisorFlag: true}, []string{"kvm-clock"}, "lxc container on kvm"},
		{"podman", VirtFacts{ContainerEnv: true}, nil, "podman container on bare metal"},
		{"docker cgroup v1", VirtFacts{Cgroup1: "12:pids:/docker/abc\n"}, nil, "docker container on bare metal"},
		{"xen dom0", VirtFacts{ProcXen: true, XenCapabilities: "control_d"}, nil, "xen PV dom0"},
		{"xen hvm", VirtFacts{HypervisorType: "xen", DMI: map[string]string{"sys_vendor": "Xen", "product_name": "HVM domU"}, CPUHypervisorFlag: true}, nil, "xen HVM domU"},
		{"xen pvh", VirtFacts{HypervisorType: "xen", HypervisorGuest: "PVH"}, nil, "xen PVH domU"},
		{"hyper-v", VirtFacts{DMI: map[string]string{"sys_vendor": "Microsoft Corporation"}, CPUHypervisorFlag: true}, nil, "microsoft"},
		{"vmware", VirtFacts{DMI: map[string]string{"sys_vendor": "VMware, Inc."}}, nil, "vmware"},
		{"unknown hypervisor", VirtFacts{CPUHypervisorFlag: true}, []string{"tsc"}, "hypervisor"},
	}
	for _, c := range cases {
		if got := DetectVirt(c.v, c.clocks).String(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func one(t *testing.T, rs []Result) Result {
	t.Helper()
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1: %+v", len(rs), rs)
	}
	return rs[0]
}

func TestIOScheduler(t *testing.T) {
	t.Parallel()
	bare := VirtFacts{DMI: map[string]string{"sys_vendor": "Dell Inc."}}
	vm := VirtFacts{CPUHypervisorFlag: true}
	cases := []struct {
		name string
		virt VirtFacts
		dev  BlockDevice
		want Status
		fix  string
	}{
		{"legacy cfq in VM", vm, BlockDevice{Name: "xvda", Active: "cfq", Schedulers: []string{"noop", "deadline", "cfq"}, Rotational: true}, Warn, "elevator=noop"},
		{"legacy deadline", vm, BlockDevice{Name: "xvda", Active: "deadline", Schedulers: []string{"noop", "deadline", "cfq"}}, Pass, ""},
		{"legacy cfq on a real spinning disk", bare, BlockDevice{Name: "sda", Active: "cfq", Schedulers: []string{"noop", "deadline", "cfq"}, Rotational: true}, Pass, ""},
		{"blk-mq bfq on SSD", bare, BlockDevice{Name: "nvme0n1", Active: "bfq", Schedulers: []string{"none", "mq-deadline", "bfq"}, BlkMQ: true}, Warn, `ATTR{queue/scheduler}="none"`},
		{"blk-mq bfq on spinning disk", bare, BlockDevice{Name: "sdb", Active: "bfq", Schedulers: []string{"none", "mq-deadline", "bfq"}, BlkMQ: true, Rotational: true}, Pass, ""},
		{"blk-mq none", vm, BlockDevice{Name: "vda", Active: "none", Schedulers: []string{"none", "mq-deadline"}, BlkMQ: true}, Pass, ""},
		{"bad file", vm, BlockDevice{Name: "vdc", Err: errors.New("/sys/block/vdc/queue/rotational: garbage")}, Error, ""},
	}
	for _, c := range cases {
		r := one(t, ioScheduler(Facts{Virt: c.virt, Block: BlockFacts{Devices: []BlockDevice{c.dev}}}))
		if r.Status != c.want {
			t.Errorf("%s: %s, want %s (%s)", c.name, r.Status, c.want, r.Observed)
		}
		if c.fix != "" && !strings.Contains(strings.Join(r.Remediation, "\n"), c.fix) {
			t.Errorf("%s: remediation %q lacks %q", c.name, r.Remediation, c.fix)
		}
		if c.want == Warn && !strings.HasPrefix(r.Remediation[0], "echo ") {
			t.Errorf("%s: first remediation %q is not the runtime echo", c.name, r.Remediation[0])
		}
	}
}

func TestClockSource(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cur, avail string
		want       Status
		fix        string
	}{
		{"tsc", "xen tsc", Warn, "echo xen >"},
		{"xen", "xen tsc", Pass, ""},
		{"kvm-clock", "kvm-clock tsc", Pass, ""},
		{"hpet", "kvm-clock hpet acpi_pm", Warn, "clocksource=kvm-clock"},
		{"jiffies", "jiffies", Warn, ""},
		{"acpi_pm", "tsc acpi_pm", Warn, "echo tsc >"},
	}
	for _, c := range cases {
		r := clockSource(Facts{Clock: ClockFacts{Current: c.cur, Available: strings.Fields(c.avail)}})
		if r.Status != c.want || !strings.Contains(strings.Join(r.Remediation, "\n"), c.fix) {
			t.Errorf("%s/%s: %s %q", c.cur, c.avail, r.Status, r.Remediation)
		}
	}
}

func TestStealThresholds(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		steal uint64
		want  Status
	}{{0, Pass}, {19, Pass}, {20, Warn}, {99, Warn}, {100, Fail}, {250, Fail}} {
		a := CPUSample{At: t0, Idle: 1000}
		b := CPUSample{At: t0.Add(2 * time.Second), Idle: 1000 + 1000 - c.steal, Steal: c.steal}
		r := cpuSteal(Facts{Steal: StealFacts{Samples: []CPUSample{a, b}}})
		if r.Status != c.want {
			t.Errorf("steal %d/1000: %s, want %s (%s)", c.steal, r.Status, c.want, r.Observed)
		}
	}
	r := cpuSteal(Facts{Steal: StealFacts{Samples: []CPUSample{{User: 50, Idle: 900, Steal: 50}}}})
	if r.Status != Warn || !strings.Contains(r.Observed, "since boot") {
		t.Errorf("single sample: %s %q", r.Status, r.Observed)
	}
}

func TestDiskIOThresholds(t *testing.T) {
	t.Parallel()
	mk := func(mb float64, iops int64) *DiskIOFacts {
		return &DiskIOFacts{Dir: "/var/tmp", WriteBytes: int64(mb * 1e6), WriteElapsed: time.Second, ReadOps: iops, ReadElapsed: time.Second}
	}
	for _, c := range []struct {
		mb           float64
		iops         int64
		wantW, wantR Status
	}{{300, 5000, Pass, Pass}, {250, 1000, Pass, Pass}, {100, 500, Warn, Warn}, {39, 200, Fail, Fail}} {
		f := Facts{Root: RootLive, DiskIO: mk(c.mb, c.iops)}
		if w, r := ioThroughput(f), ioIOPS(f); w.Status != c.wantW || r.Status != c.wantR {
			t.Errorf("%v MB/s %d IOPS: %s/%s, want %s/%s", c.mb, c.iops, w.Status, r.Status, c.wantW, c.wantR)
		}
	}
	if r := ioThroughput(Facts{Root: RootSnapshot}); r.Status != NotApplicable {
		t.Errorf("snapshot: %s", r.Status)
	}
	if r := ioThroughput(Facts{Root: RootLive, DiskIO: &DiskIOFacts{WriteErr: errors.New("no O_DIRECT")}}); r.Status != Error {
		t.Errorf("failed measurement: %s", r.Status)
	}
}

func TestMySQLBufferPool(t *testing.T) {
	t.Parallel()
	cfg := func(v string) MySQLFacts {
		c := &mycnf.Config{Files: []string{"/etc/my.cnf"}}
		if v != "" {
			c.Options = []mycnf.Option{{Section: "mysqld", Key: "innodb_buffer_pool_size", Value: v, HasValue: true, File: "/etc/my.cnf", Line: 3}}
		}
		return MySQLFacts{Present: true, Config: c}
	}
	ram := MemoryFacts{MemTotalKB: 4 << 20} // 4 GiB
	for _, c := range []struct {
		v    string
		want Status
	}{{"2G", Pass}, {"1G", Pass}, {"512M", Warn}, {"", Warn}, {"3200M", Warn}, {"3500M", Fail}, {"lots", Error}} {
		if r := mysqlBufferPool(Facts{MySQL: cfg(c.v), Memory: ram}); r.Status != c.want {
			t.Errorf("%q: %s, want %s (%s)", c.v, r.Status, c.want, r.Observed)
		}
	}
	if r := mysqlBufferPool(Facts{}); r.Status != NotApplicable {
		t.Errorf("absent: %s", r.Status)
	}
}

func xen(t *testing.T, text string) XenDomU {
	t.Helper()
	c, err := xencfg.Parse("/etc/xen/t.cfg", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return XenDomU{File: "/etc/xen/t.cfg", Config: c}
}

func TestXenChecks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id, cfg string
		want    Status
	}{
		{IDXenMemory, "memory = 1024\nmaxmem = 4096\n", Warn},
		{IDXenMemory, "memory = 1024\nmaxmem = 1024\n", Pass},
		{IDXenMemory, "vcpus = 1\n", Warn},
		{IDXenVCPUs, "memory = 1\n", Warn},
		{IDXenLifecycle, "on_reboot = 'destroy'\non_crash = 'restart'\n", Warn},
		{IDXenLifecycle, "on_reboot = 'restart'\non_crash = 'coredump-restart'\n", Pass},
		{IDXenPVBoot, "kernel = '/boot/vmlinuz'\n", Warn},
		{IDXenPVBoot, "type = 'hvm'\nkernel = '/boot/x'\n", NotApplicable},
		{IDXenPVBoot, "builder = 'hvm'\n", NotApplicable},
		{IDXenDisks, "disk = [ 'file:/srv/a.img,xvda,w' ]\n", Warn},
		{IDXenDisks, "disk = [ 'format=raw, vdev=xvda, access=rw, target=/dev/vg/a' ]\n", Pass},
		{IDXenDisks, "disk = [ 'format=qcow2, vdev=xvda, target=/srv/a.qcow2' ]\n", Warn},
		{IDXenDisks, "disk = [ 'tap:aio:/srv/a.img,xvda,w', 'phy:/dev/sdb,xvdb,w' ]\n", Pass},
	}
	for _, c := range cases {
		if r := xenCheck(c.id, xen(t, c.cfg)); r.Status != c.want {
			t.Errorf("%s %q: %s, want %s (%s)", c.id, c.cfg, r.Status, c.want, r.Observed)
		}
	}
}

func TestCatalogueComplete(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range Catalogue() {
		if seen[c.ID] || c.Title == "" || c.Category == "" || c.Rationale == "" || c.Source == "" {
			t.Errorf("incomplete or duplicate check %+v", c)
		}
		seen[c.ID] = true
	}
	// Every check appears in an evaluation of empty facts, with an ID from the catalogue.
	got := map[string]bool{}
	for _, r := range Evaluate(Facts{Root: RootDirectory}) {
		if _, ok := Lookup(r.CheckID); !ok {
			t.Errorf("result for unknown check %s", r.CheckID)
		}
		got[r.CheckID] = true
	}
	for id := range seen {
		if !got[id] {
			t.Errorf("check %s produced no result", id)
		}
	}
}

func TestNginxBadValues(t *testing.T) {
	t.Parallel()
	c, err := nginxconf.ParseBytes("/etc/nginx/nginx.conf", []byte("worker_processes many;\nevents { worker_connections lots; }\nhttp { keepalive_timeout soon; }\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := Facts{CPU: CPUFacts{VCPUs: 2}, Nginx: NginxFacts{Present: true, Config: &nginxconf.Config{Files: []string{"/etc/nginx/nginx.conf"}, Directives: c}}}
	got := map[string]Status{}
	for _, r := range nginxChecks(f) {
		got[r.CheckID] = r.Status
	}
	for _, id := range []string{IDNginxWorkers, IDNginxConnections, IDNginxKeepalive} {
		if got[id] != Error {
			t.Errorf("%s: %s, want error for a non-numeric value", id, got[id])
		}
	}
	if got[IDNginxRlimitNofile] != Warn {
		t.Errorf("rlimit with unparseable connections: %s", got[IDNginxRlimitNofile])
	}
}
