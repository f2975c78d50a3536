package guest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"

	"github.com/varde/varde/audit/tuning"
)

// IOConfig bounds the direct-I/O measurement so it never fills a disk or runs long.
type IOConfig struct {
	// Dir is where the test file is written and removed again (default /var/tmp, which unlike /tmp is
	// rarely tmpfs; tmpfs does not support O_DIRECT).
	Dir string
	// Bytes is the most the write phase writes (default 1 GiB as in the seed, at most 4 GiB).
	Bytes int64
	// WriteTime stops the write phase early on slow storage (default 15s).
	WriteTime time.Duration
	// ReadTime is how long 4 KiB random reads run (default 5s).
	ReadTime time.Duration
}

const (
	ioBlock      = 1 << 20 // dd bs=1M
	ioReadBlock  = 4096
	ioAlign      = 4096
	maxIOBytes   = 4 << 30
	ioFreeMargin = 1 << 30 // leave at least this much free after the test file
	tmpfsMagic   = 0x01021994
	ramfsMagic   = 0x858458f6
)

func (c IOConfig) withDefaults() (IOConfig, error) {
	if c.Dir == "" {
		c.Dir = "/var/tmp"
	}
	if c.Bytes == 0 {
		c.Bytes = 1 << 30 // the seed's dd bs=1G count=1
	}
	if c.WriteTime == 0 {
		c.WriteTime = 15 * time.Second
	}
	if c.ReadTime == 0 {
		c.ReadTime = 5 * time.Second
	}
	if c.Bytes < ioBlock || c.Bytes > maxIOBytes {
		return c, fmt.Errorf("I/O test size %d out of range [1 MiB, 4 GiB]", c.Bytes)
	}
	if c.WriteTime < 0 || c.ReadTime < 0 || c.WriteTime+c.ReadTime > 25*time.Second {
		return c, fmt.Errorf("I/O test times %s + %s must be positive and at most 25s together", c.WriteTime, c.ReadTime)
	}
	return c, nil
}

// alignedBuf returns n bytes starting at an ioAlign boundary, as O_DIRECT requires.
func alignedBuf(n int) []byte {
	b := make([]byte, n+ioAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (ioAlign - 1))
	if off != 0 {
		off = ioAlign - off
	}
	return b[off : off+n]
}

// MeasureDiskIO writes up to cfg.Bytes with O_DIRECT in 1 MiB blocks (as dd bs=1M oflag=direct), then reads
// random 4 KiB blocks of that file with O_DIRECT at queue depth 1, and removes the file. Failures (no
// O_DIRECT on tmpfs, no space) are reported in the returned facts; the error is only for a cancelled ctx.
func MeasureDiskIO(ctx context.Context, cfg IOConfig) (tuning.DiskIOFacts, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return tuning.DiskIOFacts{Dir: cfg.Dir, WriteErr: err, ReadErr: err}, nil
	}
	d := tuning.DiskIOFacts{Dir: cfg.Dir}
	fail := func(err error) (tuning.DiskIOFacts, error) {
		d.WriteErr = err
		d.ReadErr = fmt.Errorf("no test file to read: %w", err)
		return d, ctx.Err()
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(cfg.Dir, &st); err != nil {
		return fail(fmt.Errorf("I/O test directory %s: %w", cfg.Dir, err))
	}
	// Memory-backed file systems accept O_DIRECT on new kernels but measure RAM, not storage.
	switch st.Type {
	case tmpfsMagic, ramfsMagic:
		return fail(fmt.Errorf("I/O test directory %s is on tmpfs/ramfs (memory, not a disk); choose a directory on the disk to measure", cfg.Dir))
	}
	if free := int64(st.Bavail) * st.Bsize; free < cfg.Bytes+ioFreeMargin {
		return fail(fmt.Errorf("I/O test directory %s: %d MiB free, need %d MiB plus 1 GiB margin", cfg.Dir, free>>20, cfg.Bytes>>20))
	}
	name := filepath.Join(cfg.Dir, fmt.Sprintf(".varde-io-%d-%d", os.Getpid(), time.Now().UnixNano()))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_DIRECT, 0o600)
	if err != nil {
		if errors.Is(err, syscall.EINVAL) {
			err = fmt.Errorf("%w (the file system does not support O_DIRECT; choose another directory)", err)
		}
		return fail(fmt.Errorf("I/O test file: %w", err))
	}
	defer os.Remove(name)
	buf := alignedBuf(ioBlock)
	for i := range buf {
		buf[i] = byte(i*7 + 1) // not zeros: some storage shortcuts zero blocks
	}
	start := time.Now()
	var written int64
	for written < cfg.Bytes && time.Since(start) < cfg.WriteTime {
		if err := ctx.Err(); err != nil {
			f.Close()
			return d, err
		}
		n, err := f.Write(buf)
		written += int64(n)
		if err != nil {
			f.Close()
			if errors.Is(err, syscall.EINVAL) {
				err = fmt.Errorf("%w (the file system does not support O_DIRECT; choose another directory)", err)
			}
			return fail(fmt.Errorf("writing %s: %w", name, err))
		}
	}
	// dd oflag=direct does not fsync; we do, so a write-back cache in the hypervisor is paid for here.
	if err := f.Sync(); err != nil {
		f.Close()
		return fail(fmt.Errorf("fsync %s: %w", name, err))
	}
	d.WriteElapsed = time.Since(start)
	d.WriteBytes = written
	if err := f.Close(); err != nil {
		return fail(fmt.Errorf("closing %s: %w", name, err))
	}

	r, err := os.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		d.ReadErr = fmt.Errorf("opening %s for reading: %w", name, err)
		return d, ctx.Err()
	}
	defer r.Close()
	blocks := written / ioReadBlock
	rbuf := alignedBuf(ioReadBlock)
	rng := rand.New(rand.NewPCG(1, 2))
	start = time.Now()
	var ops int64
	for time.Since(start) < cfg.ReadTime {
		if ops%256 == 0 {
			if err := ctx.Err(); err != nil {
				return d, err
			}
		}
		off := rng.Int64N(blocks) * ioReadBlock
		if _, err := r.ReadAt(rbuf, off); err != nil {
			d.ReadErr = fmt.Errorf("reading %s at %d: %w", name, off, err)
			return d, ctx.Err()
		}
		ops++
	}
	d.ReadElapsed = time.Since(start)
	d.ReadOps = ops
	return d, nil
}
