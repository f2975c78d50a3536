package tuning

import (
	"time"

	"github.com/varde/varde/guest/mycnf"
	"github.com/varde/varde/guest/nginxconf"
	"github.com/varde/varde/guest/xencfg"
)

// RootKind says where facts were collected from.
type RootKind string

const (
	RootLive      RootKind = "live"
	RootDirectory RootKind = "directory"
	RootSnapshot  RootKind = "snapshot"
)

// Facts is everything the rules need, collected from one machine. Each part carries its own Err so an
// unreadable or garbled file fails only the checks that depend on it.
type Facts struct {
	Root   RootKind
	Host   string
	Kernel string // kernel release, "" if unknown

	Virt   VirtFacts
	CPU    CPUFacts
	Block  BlockFacts
	Clock  ClockFacts
	Steal  StealFacts
	Memory MemoryFacts
	Nginx  NginxFacts
	MySQL  MySQLFacts
	Xen    []XenDomU
	DiskIO *DiskIOFacts // nil when not measured (snapshot or directory root)
}

// VirtFacts are the raw signals systemd-detect-virt looks at.
type VirtFacts struct {
	DMI               map[string]string // sys_vendor, product_name, board_vendor, bios_vendor, ...
	ProcXen           bool
	XenCapabilities   string
	HypervisorType    string // /sys/hypervisor/type
	HypervisorGuest   string // /sys/hypervisor/guest_type (PV, HVM, PVH) on newer kernels
	ProcVZ, ProcBC    bool
	CPUHypervisorFlag bool
	DockerEnv         bool   // /.dockerenv
	ContainerEnv      bool   // /run/.containerenv (podman)
	SystemdContainer  string // /run/systemd/container
	EnvironContainer  string // container= in /proc/1/environ
	Cgroup1           string // /proc/1/cgroup
	Err               error
}

// CPUFacts come from /proc/cpuinfo.
type CPUFacts struct {
	VCPUs int
	Err   error
}

// BlockDevice is one /sys/block entry with a queue.
type BlockDevice struct {
	Name       string
	Active     string   // the bracketed scheduler
	Schedulers []string // all offered
	Rotational bool
	BlkMQ      bool // /sys/block/DEV/mq exists or the offered schedulers are blk-mq ones
	Err        error
}

// BlockFacts lists block devices.
type BlockFacts struct {
	Devices []BlockDevice
	Err     error
}

// ClockFacts come from /sys/devices/system/clocksource/clocksource0.
type ClockFacts struct {
	Current   string
	Available []string
	Err       error
}

// CPUSample is the aggregate "cpu" line of /proc/stat, in USER_HZ ticks.
type CPUSample struct {
	At                                                           time.Time `json:"at"`
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal, Guest uint64
	GuestNice                                                    uint64
}

// Total is all time in the sample; guest time is already counted in user, as the kernel does.
func (s CPUSample) Total() uint64 {
	return s.User + s.Nice + s.System + s.Idle + s.IOWait + s.IRQ + s.SoftIRQ + s.Steal
}

// StealFacts are one or two /proc/stat samples. With one, steal is judged since boot.
type StealFacts struct {
	Samples []CPUSample
	Err     error
}

// MemoryFacts are the memory reservation signals.
type MemoryFacts struct {
	MemTotalKB int64
	MemErr     error

	VirtioBalloonBound bool     // a device bound to the virtio_balloon driver
	XenBalloon         bool     // /sys/devices/system/xen_memory/xen_memory0 or /proc/xen/balloon
	XenTargetKB        int64    // balloon target
	XenCurrentKB       int64    // current allocation
	BalloonModules     []string // vmw_balloon, hv_balloon, ... from /proc/modules
	BalloonErr         error

	OvercommitMemory int
	OvercommitRatio  int
	OvercommitKB     int64
	OvercommitErr    error
}

// NginxFacts is the parsed main config, if nginx is configured.
type NginxFacts struct {
	Present bool
	Config  *nginxconf.Config
	Err     error
}

// MySQLFacts is the merged option files, if MySQL or MariaDB is configured.
type MySQLFacts struct {
	Present bool
	Config  *mycnf.Config
	Err     error
}

// XenDomU is one domU config file.
type XenDomU struct {
	File   string
	Config *xencfg.Config
	Err    error
}

// DiskIOFacts is the live direct-I/O measurement.
type DiskIOFacts struct {
	Dir          string
	WriteBytes   int64
	WriteElapsed time.Duration
	WriteErr     error
	ReadOps      int64
	ReadElapsed  time.Duration
	ReadErr      error
}
