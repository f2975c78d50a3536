package tuning

const seedSource = "seed: \"The Xen Hypervisor: A Sysadmin's Guide to True Isolation and Performance\" (CoolVDS, 2012)"

// Check IDs. They are stable: never reuse or rename one.
const (
	IDVirtType           = "guest.virt.type"
	IDIOScheduler        = "guest.io.scheduler"
	IDClockSource        = "guest.clock.source"
	IDCPUSteal           = "guest.cpu.steal"
	IDIOThroughput       = "guest.io.throughput"
	IDIOIOPS             = "guest.io.iops"
	IDMemBalloon         = "guest.mem.balloon"
	IDMemOvercommit      = "guest.mem.overcommit"
	IDNginxWorkers       = "guest.nginx.worker_processes"
	IDNginxConnections   = "guest.nginx.worker_connections"
	IDNginxRlimitNofile  = "guest.nginx.worker_rlimit_nofile"
	IDNginxSendfile      = "guest.nginx.sendfile"
	IDNginxTCPNodelay    = "guest.nginx.tcp_nodelay"
	IDNginxKeepalive     = "guest.nginx.keepalive_timeout"
	IDNginxGzip          = "guest.nginx.gzip"
	IDNginxClientBuffers = "guest.nginx.client_buffers"
	IDMySQLBufferPool    = "guest.mysql.innodb_buffer_pool_size"
	IDXenMemory          = "guest.xen.memory"
	IDXenVCPUs           = "guest.xen.vcpus"
	IDXenLifecycle       = "guest.xen.lifecycle"
	IDXenPVBoot          = "guest.xen.pv_boot"
	IDXenDisks           = "guest.xen.disks"
)

// Thresholds stated in the catalogue and used by the rules.
const (
	// StealWarnPct and StealFailPct bound CPU steal: the seed calls anything above 0.0% "consistently"
	// a provider slowing you down and debugged a 25% case; 2% allows for sampling noise.
	StealWarnPct = 2.0
	StealFailPct = 10.0
	// ThroughputPassMBps is the seed's SSD expectation for dd oflag=direct; ThroughputFailMBps is its
	// "standard OpenVZ node with HDDs" figure.
	ThroughputPassMBps = 250.0
	ThroughputFailMBps = 40.0
	// IOPSPassMin is five times the seed's 15k RPM SAS figure (180-200 IOPS); IOPSFailMax is that figure.
	IOPSPassMin = 1000.0
	IOPSFailMax = 200.0
)

var catalogue = map[string]Check{}

func add(c Check) { catalogue[c.ID] = c }

func init() {
	add(Check{IDVirtType, "Virtualization type", "virtualization",
		"Full or paravirtualized guests (Xen, KVM) get hard memory and CPU scheduling guarantees; container " +
			"virtualization such as OpenVZ shares one kernel and I/O queue with every neighbour (the noisy neighbour " +
			"effect). Detected from the signals systemd-detect-virt uses: DMI ids, /proc/xen and its capabilities, " +
			"/sys/hypervisor, /proc/vz without /proc/bc, the cpuinfo hypervisor flag, /.dockerenv, /run/.containerenv, " +
			"/proc/1/cgroup and container= in /proc/1/environ.",
		seedSource + " (Xen PV vs HVM, OpenVZ); systemd src/basic/virt.c"})
	add(Check{IDIOScheduler, "I/O scheduler per block device", "storage",
		"On a virtual disk the hypervisor already orders requests for the physical media, so the guest's " +
			"elevator only costs CPU: cfq (legacy) and bfq (blk-mq) reorder for spinning heads. On blk-mq kernels " +
			"none or mq-deadline pass; on legacy kernels noop or deadline pass. A disk reporting rotational=1 outside a VM " +
			"is a real spinning disk, where cfq/bfq are acceptable.",
		seedSource + " (section 1, The I/O Scheduler); Documentation/block/ in the Linux kernel"})
	add(Check{IDClockSource, "Clocksource", "time",
		"Virtual machines drift when the kernel keeps time with an emulated or unstable source. xen, kvm-clock " +
			"and tsc (stable, invariant TSC) pass; hpet, acpi_pm, pit and jiffies warn. On Xen, a guest that has the xen " +
			"clocksource available but runs on tsc or hpet is flagged, as the seed advises forcing xen.",
		seedSource + " (section 2, Clock Synchronization); Documentation/virt/kvm/x86/timekeeping.rst"})
	add(Check{IDCPUSteal, "CPU steal time", "cpu",
		"Steal is time the hypervisor ran someone else while this guest wanted the CPU. Measured as the share of " +
			"steal in all CPU time between two /proc/stat samples. Below 2% passes, 2-10% warns, 10% or more fails.",
		seedSource + " (%st in top at 25%); proc(5) /proc/stat"})
	add(Check{IDIOThroughput, "Direct-I/O sequential write throughput", "storage",
		"Sequential 1 MiB writes with O_DIRECT (as dd bs=1M oflag=direct) show what the storage delivers without " +
			"the page cache. The seed expects 250 MB/s or more on SSD and saw 40 MB/s on OpenVZ HDD nodes: >=250 MB/s " +
			"passes, below 40 MB/s fails, between warns. Measured live only, in a chosen directory, bounded in size " +
			"and time, and the file is removed.",
		seedSource + " (The Storage Bottleneck)"})
	add(Check{IDIOIOPS, "4k random read IOPS (O_DIRECT)", "storage",
		"Databases read random pages; a 15k RPM SAS disk manages 180-200 IOPS per the seed. 4 KiB random reads " +
			"with O_DIRECT at queue depth 1: >=1000 IOPS passes, <=200 IOPS (HDD class) fails, between warns.",
		seedSource + " (The Storage Bottleneck)"})
	add(Check{IDMemBalloon, "Memory reservation (balloon)", "memory",
		"Memory the host can take back through a balloon driver is not reserved: the seed's point is that 2 GB " +
			"bought is 2 GB held by the hypervisor. A bound virtio/VMware/Hyper-V balloon or a Xen balloon target " +
			"below the current allocation warns.",
		seedSource + " (Why CoolVDS?: memory reserved in the hypervisor); Documentation/admin-guide/mm/"})
	add(Check{IDMemOvercommit, "Memory overcommit policy", "memory",
		"vm.overcommit_memory=1 lets allocations always succeed and leaves the OOM killer to pick a victim, often " +
			"the database. 0 (heuristic) and 2 (strict, with overcommit_ratio or overcommit_kbytes) pass; 1 warns.",
		"Documentation/mm/overcommit-accounting.rst"})
	add(Check{IDNginxWorkers, "nginx worker_processes vs vCPUs", "nginx",
		"One worker per vCPU (or auto) uses every CPU without context-switch overhead; the seed sets " +
			"worker_processes 2 on a 2-vCPU Xen instance.",
		seedSource + " (Configuring Nginx); nginx.org/en/docs/ngx_core_module.html#worker_processes"})
	add(Check{IDNginxConnections, "nginx worker_connections", "nginx",
		"Each worker serves at most worker_connections clients (default 512). The seed uses 2048; below 1024 warns.",
		seedSource + " (Configuring Nginx); nginx.org/en/docs/ngx_core_module.html#worker_connections"})
	add(Check{IDNginxRlimitNofile, "nginx worker_rlimit_nofile", "nginx",
		"A proxied connection needs two descriptors, so worker_rlimit_nofile should be at least 2 x " +
			"worker_connections (the seed: 8192 for 2048); unset leaves the service ulimit, often 1024.",
		seedSource + " (Configuring Nginx); nginx.org/en/docs/ngx_core_module.html#worker_rlimit_nofile"})
	add(Check{IDNginxSendfile, "nginx sendfile and tcp_nopush", "nginx",
		"sendfile copies static files in the kernel; tcp_nopush (with sendfile) sends headers and file start in " +
			"full packets. Both are on in the seed; both default to off.",
		seedSource + " (Configuring Nginx); nginx.org/en/docs/http/ngx_http_core_module.html#sendfile"})
	add(Check{IDNginxTCPNodelay, "nginx tcp_nodelay", "nginx",
		"tcp_nodelay (default on) avoids Nagle delays on keep-alive connections; the seed sets it on.",
		seedSource + " (Configuring Nginx); nginx.org/en/docs/http/ngx_http_core_module.html#tcp_nodelay"})
	add(Check{IDNginxKeepalive, "nginx keepalive_timeout", "nginx",
		"Idle keep-alive connections hold a worker connection each; the default 75s wastes them on a small VPS. " +
			"The seed uses 15; 1-30s passes, longer or 0 (keep-alive off) warns.",
		seedSource + " (Configuring Nginx); nginx.org/en/docs/http/ngx_http_core_module.html#keepalive_timeout"})
	add(Check{IDNginxGzip, "nginx gzip", "nginx",
		"Compressing text responses saves bandwidth at little CPU (the seed: gzip on, comp level 2).",
		seedSource + " (Configuring Nginx); nginx.org/en/docs/http/ngx_http_gzip_module.html"})
	add(Check{IDNginxClientBuffers, "nginx client buffers", "nginx",
		"Explicit client_body_buffer_size, client_header_buffer_size, client_max_body_size and " +
			"large_client_header_buffers bound memory per request (the seed's \"buffer overflow protection\"); " +
			"any left at its default warns.",
		seedSource + " (Configuring Nginx); nginx.org/en/docs/http/ngx_http_core_module.html"})
	add(Check{IDMySQLBufferPool, "MySQL/MariaDB innodb_buffer_pool_size vs RAM", "database",
		"The buffer pool caches InnoDB data and indexes; the seed moves RAM from the web server to it. 25-75% " +
			"of RAM passes, below 25% (including the 128M default on larger machines) or 75-80% warns, above 80% fails " +
			"(the rest of the system swaps).",
		seedSource + " (Configuring Nginx: more RAM for innodb_buffer_pool_size); MySQL Reference Manual 17.8.3.1"})
	add(Check{IDXenMemory, "Xen domU memory", "xen",
		"memory sets the domU's reserved RAM; a maxmem above memory lets the balloon move memory, so it is not " +
			"reserved as the seed promises. Unset memory warns (xl default 128 MB).",
		seedSource + " (standard Xen PV configuration file); xl.cfg(5)"})
	add(Check{IDXenVCPUs, "Xen domU vcpus", "xen",
		"vcpus should be set explicitly (default 1) and match what nginx and the database are sized for.",
		seedSource + "; xl.cfg(5)"})
	add(Check{IDXenLifecycle, "Xen domU on_crash/on_reboot", "xen",
		"on_reboot must be restart or a reboot powers the guest off; on_crash restart (or coredump-restart, " +
			"rename-restart, preserve) keeps a crashed guest from staying down (xl's default is destroy).",
		seedSource + "; xl.cfg(5)"})
	add(Check{IDXenPVBoot, "Xen PV kernel and ramdisk", "xen",
		"A PV guest booted with kernel= needs the matching ramdisk= for a distribution kernel (root on LVM, as in " +
			"the seed); HVM guests and pygrub bootloader guests do not apply.",
		seedSource + "; xl.cfg(5)"})
	add(Check{IDXenDisks, "Xen domU disk backends", "xen",
		"phy: block devices (LVM volumes, as in the seed) go straight to blkback; file: images go through a loop " +
			"device and the dom0 page cache, slower and unsafe on crash.",
		seedSource + "; xl-disk-configuration(5)"})
}
