package varde

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

var testLimit = Limit{What: "a test file", Bytes: 10}

func TestReadFileRefusesNonRegularAndLarge(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	big := filepath.Join(dir, "big")
	fifo := filepath.Join(dir, "fifo")
	if err := os.WriteFile(ok, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, 11), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(ok, testLimit); err != nil || string(b) != "0123456789" {
		t.Fatalf("exactly at the limit: %q %v", b, err)
	}
	for _, tc := range []struct {
		path string
		is   error
		want string
	}{
		{big, ErrTooLarge, big + ": too large: 11 bytes is over the 10 bytes limit for a test file"},
		{fifo, ErrNotRegular, fifo + ": not a regular file"},
		{"/dev/zero", ErrNotRegular, "/dev/zero: not a regular file"},
		{dir, ErrNotRegular, dir + ": not a regular file"},
		{filepath.Join(dir, "missing"), os.ErrNotExist, "missing: no such file"},
	} {
		_, err := ReadFile(tc.path, testLimit)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %v containing %q", tc.path, err, tc.is, tc.want)
		}
	}
}

func TestLimitReaderStream(t *testing.T) {
	b, err := io.ReadAll(LimitReader(strings.NewReader("0123456789"), "stdin", testLimit))
	if err != nil || len(b) != 10 {
		t.Fatalf("at the limit: %d bytes, %v", len(b), err)
	}
	b, err = io.ReadAll(LimitReader(strings.NewReader("0123456789x"), "stdin", testLimit))
	if !errors.Is(err, ErrTooLarge) || len(b) != 10 || !strings.Contains(err.Error(), "stdin: too large: more than the 10 bytes limit for a test file") {
		t.Fatalf("over the limit: %d bytes, %v", len(b), err)
	}
}

func TestReadFSFile(t *testing.T) {
	fsys := fstest.MapFS{"a": {Data: []byte("short")}, "b": {Data: make([]byte, 11)}, "d": {Mode: os.ModeDir}}
	if b, err := ReadFSFile(fsys, "a", testLimit); err != nil || string(b) != "short" {
		t.Fatalf("a: %q %v", b, err)
	}
	if _, err := ReadFSFile(fsys, "b", testLimit); !errors.Is(err, ErrTooLarge) {
		t.Errorf("b: %v", err)
	}
	if _, err := ReadFSFile(fsys, "d", testLimit); !errors.Is(err, ErrNotRegular) {
		t.Errorf("d: %v", err)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{300: "300 bytes", 1536: "1.5 KiB", 16 << 20: "16 MiB", 200 << 20: "200 MiB", 3 << 30: "3 GiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
