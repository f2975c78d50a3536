package varde

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// varde writes its output files (reports, bundles, snapshots) whole to a temporary file beside the
// target, then renames it into place, so a half-written file never sits at the path. A rename replaces
// whatever the path names: given /dev/full or a FIFO it would put a regular file where the device was.
// So an existing target must be a regular file.

// CheckOutput refuses an output path that exists and is not a regular file (a device, FIFO, socket,
// directory or symbolic link). A path that does not exist yet is fine.
func CheckOutput(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s: %w (it is a %s; varde writes a new file and renames it into place, which would replace it)",
		path, ErrNotRegular, kind(fi.Mode()))
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// StageFile writes data to a synced temporary file beside path, with mode perm, and returns its name, for
// a caller that renames it into place only after something else is done (e.g. the report's row recorded).
func StageFile(path string, data []byte, perm fs.FileMode) (string, error) {
	if err := CheckOutput(path); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	err = errors.Join(werr, serr, cerr)
	if err == nil {
		err = os.Chmod(f.Name(), perm)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return f.Name(), nil
}

// WriteFileAtomic writes data to path through a synced temporary file renamed into place.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := StageFile(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
