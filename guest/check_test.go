package guest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/varde/varde/audit/tuning"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var fixtures = []string{"centos6-xen-pv", "kvm-modern", "openvz", "docker", "garbled"}

var fixedNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{
		Now:    func() time.Time { return fixedNow },
		Sleep:  func(context.Context, time.Duration) error { return nil },
		SkipIO: true,
	}
}

func fixtureRoot(t *testing.T, name string) Root {
	t.Helper()
	r, err := DirRoot(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkRoot(t *testing.T, r Root, cfg Config) Report {
	t.Helper()
	rep, err := Check(context.Background(), r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGoldenFixtures(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep := checkRoot(t, fixtureRoot(t, name), testConfig())
			rep.Tool = "" // the release version must not break the golden files
			var b bytes.Buffer
			if err := rep.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			b.WriteString("\n")
			if err := rep.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, name, b.Bytes())
		})
	}
}

func find(t *testing.T, rep Report, id, subject string) tuning.Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.CheckID == id && r.Subject == subject {
			return r
		}
	}
	t.Fatalf("no result for %s %q", id, subject)
	return tuning.Result{}
}

func expect(t *testing.T, r tuning.Result, st tuning.Status, observed ...string) {
	t.Helper()
	if r.Status != st {
		t.Errorf("%s %s: status %s, want %s (observed %q)", r.CheckID, r.Subject, r.Status, st, r.Observed)
	}
	for _, o := range observed {
		if !strings.Contains(r.Observed, o) {
			t.Errorf("%s %s: observed %q lacks %q", r.CheckID, r.Subject, r.Observed, o)
		}
	}
}

// TestSeedGuestFindings pins the seed article's findings, independent of the golden file's wording.
func TestSeedGuestFindings(t *testing.T) {
	t.Parallel()
	rep := checkRoot(t, fixtureRoot(t, "centos6-xen-pv"), testConfig())
	expect(t, find(t, rep, tuning.IDVirtType, ""), tuning.Pass, "xen PV domU")
	sched := find(t, rep, tuning.IDIOScheduler, "xvda")
	expect(t, sched, tuning.Warn, "cfq active", "legacy")
	if len(sched.Remediation) != 2 || sched.Remediation[0] != "echo noop > /sys/block/xvda/queue/scheduler" ||
		!strings.Contains(sched.Remediation[1], "elevator=noop") {
		t.Errorf("scheduler remediation %q: want runtime echo and elevator=noop", sched.Remediation)
	}
	expect(t, find(t, rep, tuning.IDClockSource, ""), tuning.Warn, "current tsc", "xen available but not used")
	expect(t, find(t, rep, tuning.IDCPUSteal, ""), tuning.Fail, "steal 25.0%")
	expect(t, find(t, rep, tuning.IDNginxWorkers, "/etc/nginx/nginx.conf"), tuning.Pass, "worker_processes 2", "2 vCPUs")
	expect(t, find(t, rep, tuning.IDXenDisks, "/etc/xen/configs/mailserver.cfg"), tuning.Pass, "phy:")
	expect(t, find(t, rep, tuning.IDXenPVBoot, "/etc/xen/configs/mailserver.cfg"), tuning.Pass, "ramdisk")
	expect(t, find(t, rep, tuning.IDMySQLBufferPool, "/etc/my.cnf"), tuning.Pass, "/etc/my.cnf.d/server.cnf:3")
	expect(t, find(t, rep, tuning.IDIOThroughput, ""), tuning.NotApplicable)

	kvm := checkRoot(t, fixtureRoot(t, "kvm-modern"), testConfig())
	expect(t, find(t, kvm, tuning.IDVirtType, ""), tuning.Pass, "kvm")
	expect(t, find(t, kvm, tuning.IDIOScheduler, "vda"), tuning.Pass, "none active", "blk-mq")
	bfq := find(t, kvm, tuning.IDIOScheduler, "sda")
	expect(t, bfq, tuning.Warn, "bfq active")
	if len(bfq.Remediation) < 2 || !strings.Contains(bfq.Remediation[1], `/etc/udev/rules.d/`) {
		t.Errorf("blk-mq remediation %q: want a udev rule", bfq.Remediation)
	}
	expect(t, find(t, kvm, tuning.IDClockSource, ""), tuning.Pass, "current kvm-clock")

	vz := checkRoot(t, fixtureRoot(t, "openvz"), testConfig())
	expect(t, find(t, vz, tuning.IDVirtType, ""), tuning.Warn, "openvz")
	dock := checkRoot(t, fixtureRoot(t, "docker"), testConfig())
	expect(t, find(t, dock, tuning.IDVirtType, ""), tuning.Pass, "docker container")
	expect(t, find(t, dock, tuning.IDNginxWorkers, ""), tuning.NotApplicable)
}

// TestBadInputGivesErrorResults: garbled files fail only their own checks, with file:line for configs.
func TestBadInputGivesErrorResults(t *testing.T) {
	t.Parallel()
	rep := checkRoot(t, fixtureRoot(t, "garbled"), testConfig())
	expect(t, find(t, rep, tuning.IDNginxGzip, ""), tuning.Error, "/etc/nginx/conf.d/site.conf:4:")
	expect(t, find(t, rep, tuning.IDMySQLBufferPool, ""), tuning.Error, "/etc/my.cnf:1:")
	expect(t, find(t, rep, tuning.IDXenMemory, "/etc/xen/bad.cfg"), tuning.Error, "/etc/xen/bad.cfg:2:")
	expect(t, find(t, rep, tuning.IDXenMemory, "/etc/xen/good.cfg"), tuning.Pass)
	expect(t, find(t, rep, tuning.IDMemOvercommit, ""), tuning.Error, "overcommit_memory")
	expect(t, find(t, rep, tuning.IDCPUSteal, ""), tuning.Error, "backwards")
	expect(t, find(t, rep, tuning.IDClockSource, ""), tuning.Pass)
}

// denyFS makes chosen files unreadable, as a permission problem on a live system would.
type denyFS struct {
	fs.FS
	deny map[string]bool
}

func (d denyFS) Open(name string) (fs.File, error) {
	if d.deny[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
	}
	return d.FS.Open(name)
}

func TestUnreadableFileGivesErrorResult(t *testing.T) {
	t.Parallel()
	r := fixtureRoot(t, "kvm-modern")
	r.FS = denyFS{r.FS, map[string]bool{
		"sys/devices/system/clocksource/clocksource0/current_clocksource": true,
		"etc/mysql/mariadb.conf.d/50-server.cnf":                          true,
	}}
	rep := checkRoot(t, r, testConfig())
	expect(t, find(t, rep, tuning.IDClockSource, ""), tuning.Error, "permission denied")
	expect(t, find(t, rep, tuning.IDMySQLBufferPool, ""), tuning.Error, "/etc/mysql/my.cnf:7:", "50-server.cnf")
	expect(t, find(t, rep, tuning.IDIOScheduler, "vda"), tuning.Pass)
	expect(t, find(t, rep, tuning.IDNginxWorkers, "/etc/nginx/nginx.conf"), tuning.Pass)
}

func collectBytes(t *testing.T, r Root, cfg Config) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := Collect(context.Background(), r, &b, cfg); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// comparable drops what legitimately differs between roots: the I/O checks say which root they skipped.
func comparable(rs []tuning.Result) []tuning.Result {
	var out []tuning.Result
	for _, r := range rs {
		if r.CheckID == tuning.IDIOThroughput || r.CheckID == tuning.IDIOIOPS {
			continue
		}
		out = append(out, r)
	}
	return out
}

func diffResults(t *testing.T, a, b []tuning.Result, skipObserved map[string]bool) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d results vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if skipObserved[x.CheckID] {
			x.Observed, y.Observed = "", ""
		}
		if x.CheckID != y.CheckID || x.Subject != y.Subject || x.Status != y.Status || x.Observed != y.Observed ||
			x.Expected != y.Expected || strings.Join(x.Remediation, "\n") != strings.Join(y.Remediation, "\n") {
			t.Errorf("result %d differs:\n  direct:   %+v\n  snapshot: %+v", i, a[i], b[i])
		}
	}
}

// TestSnapshotEqualsDirectory: collect + check --snapshot gives the same results as checking the root itself.
func TestSnapshotEqualsDirectory(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := fixtureRoot(t, name)
			direct := checkRoot(t, r, testConfig())
			snap, err := ReadSnapshot(context.Background(), bytes.NewReader(collectBytes(t, r, testConfig())))
			if err != nil {
				t.Fatal(err)
			}
			fromSnap := checkRoot(t, snap, testConfig())
			diffResults(t, comparable(direct.Results), comparable(fromSnap.Results), nil)
			if fromSnap.Host != direct.Host {
				t.Errorf("host %q vs %q", fromSnap.Host, direct.Host)
			}
			for _, id := range []string{tuning.IDIOThroughput, tuning.IDIOIOPS} {
				expect(t, find(t, fromSnap, id, ""), tuning.NotApplicable, "snapshot")
			}
		})
	}
}

// TestSnapshotEqualsLive: on this machine, a snapshot judges like the live system for every check a
// snapshot can hold (steal is sampled at different times, so only its verdict is compared).
func TestSnapshotEqualsLive(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc: not Linux")
	}
	cfg := Config{StealInterval: 200 * time.Millisecond, SkipIO: true}
	snap, err := ReadSnapshot(context.Background(), bytes.NewReader(collectBytes(t, LiveRoot(), cfg)))
	if err != nil {
		t.Fatal(err)
	}
	// The facts are read once: the live check judges steal from the /proc/stat samples the snapshot holds,
	// because steal on a busy host moves by whole percentage points between two readings a second apart.
	liveRoot := LiveRoot()
	liveRoot.Manifest = &Manifest{StatSamples: snap.Manifest.StatSamples}
	live := checkRoot(t, liveRoot, cfg)
	fromSnap := checkRoot(t, snap, cfg)
	diffResults(t, comparable(live.Results), comparable(fromSnap.Results), nil)
	if len(snap.Manifest.StatSamples) != 2 {
		t.Errorf("snapshot holds %d /proc/stat samples, want 2", len(snap.Manifest.StatSamples))
	}
}

func tarGz(t *testing.T, entries map[string]string, order ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, n := range order {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(entries[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(entries[n]))
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

func TestNotASnapshotIsRefused(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		data []byte
		want string
	}{
		"text file": {[]byte("hello\n"), "not a varde snapshot (not gzip"},
		"gzip no tar": {func() []byte {
			var b bytes.Buffer
			g := gzip.NewWriter(&b)
			g.Write([]byte("x"))
			g.Close()
			return b.Bytes()
		}(), "not a varde snapshot (not a tar"},
		"other tar":   {tarGz(t, map[string]string{"etc/passwd": "root:x:0:0\n"}, "etc/passwd"), `first entry is "etc/passwd"`},
		"bad format":  {tarGz(t, map[string]string{ManifestName: `{"format":"sosreport","version":1}`}, ManifestName), `format "sosreport"`},
		"new version": {tarGz(t, map[string]string{ManifestName: `{"format":"varde-guest-snapshot","version":9}`}, ManifestName), "version 9 is not supported"},
		"bad json":    {tarGz(t, map[string]string{ManifestName: `{"format":`}, ManifestName), "not a varde snapshot manifest"},
	}
	for name, c := range cases {
		_, err := ReadSnapshot(context.Background(), bytes.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to contain %q", name, err, c.want)
		}
	}
	file := filepath.Join(t.TempDir(), "notes.tar.gz")
	os.WriteFile(file, []byte("plain"), 0o644)
	if _, err := OpenSnapshot(context.Background(), file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("OpenSnapshot error %v does not name the file", err)
	}
}

func TestMeasureDiskIO(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("/var/tmp", "varde-io-test-")
	if err != nil {
		t.Skip("no /var/tmp:", err)
	}
	defer os.RemoveAll(dir)
	d, err := MeasureDiskIO(context.Background(), IOConfig{Dir: dir, Bytes: 16 << 20, WriteTime: 3 * time.Second, ReadTime: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if errors.Is(d.WriteErr, syscall.EINVAL) {
		t.Skipf("/var/tmp has no O_DIRECT here: %v", d.WriteErr)
	}
	if d.WriteErr != nil || d.ReadErr != nil {
		t.Fatalf("write err %v, read err %v", d.WriteErr, d.ReadErr)
	}
	if d.WriteBytes != 16<<20 || d.WriteElapsed <= 0 || d.ReadOps == 0 {
		t.Errorf("measured %d bytes in %s, %d reads", d.WriteBytes, d.WriteElapsed, d.ReadOps)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("test file left behind: %v", left)
	}
	// tmpfs has no O_DIRECT: the failure must say so and name the directory.
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, _ := MeasureDiskIO(context.Background(), IOConfig{Dir: "/dev/shm", Bytes: 1 << 20, ReadTime: time.Millisecond})
		var fs syscall.Statfs_t
		if syscall.Statfs("/dev/shm", &fs) == nil && fs.Type == tmpfsMagic {
			if d.WriteErr == nil || !strings.Contains(d.WriteErr.Error(), "/dev/shm is on tmpfs") {
				t.Errorf("tmpfs measured as a disk: write err %v, %d bytes", d.WriteErr, d.WriteBytes)
			}
		}
	}
}
