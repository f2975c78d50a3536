package varde

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// An output path that names a device, FIFO, directory or symbolic link is refused: renaming the new file
// over it would replace it (as /dev/full once was). A regular file is replaced whole.
func TestWriteFileAtomicRefusesSpecialTargets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), link); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, kind string }{{fifo, "FIFO"}, {dir, "directory"}, {link, "symbolic link"}}
	// A device node of the test's own (a copy of /dev/null's numbers), never a system one: were the guard
	// broken, the test would replace it. Making one needs root; without, the FIFO stands in for it.
	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o644, 1<<8|3); err == nil {
		cases = append(cases, struct{ path, kind string }{dev, "device"})
	}
	for _, c := range cases {
		err := WriteFileAtomic(c.path, []byte("x"), 0o644)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "it is a "+c.kind) {
			t.Errorf("%s: %v, want a refusal naming a %s", c.path, err, c.kind)
		}
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO is no longer a FIFO: %v %v", fi, err)
	}
	p := filepath.Join(dir, "out.json")
	for _, body := range []string{"first", "second"} {
		if err := WriteFileAtomic(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != body {
			t.Errorf("content %q, want %q", b, body)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".out.json.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
