package varde

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Limit is the most varde reads of one kind of user-supplied file. Every file varde is pointed at (an
// inventory, a GeoIP database, a key, a snapshot, a PDF ...) is read through ReadFile or OpenFile with
// the limit of its kind, so /dev/zero, a FIFO or a huge file is refused before it costs memory.
type Limit struct {
	// What names the kind of file with its article, for errors: "an inventory".
	What string
	// Bytes is the largest accepted size.
	Bytes int64
}

var (
	// ErrNotRegular is returned for a device, FIFO, socket or directory given where a file is wanted.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is returned for a file (or stream) over its limit.
	ErrTooLarge = errors.New("over the size limit")
)

// sizeError says how large the input is and which limit it is over; it matches ErrTooLarge.
type sizeError struct {
	name string
	size int64 // -1: a stream known only to be over the limit
	lim  Limit
}

func (e *sizeError) Error() string {
	if e.size < 0 {
		return fmt.Sprintf("%s: too large: more than the %s limit for %s", e.name, FormatSize(e.lim.Bytes), e.lim.What)
	}
	return fmt.Sprintf("%s: too large: %s is over the %s limit for %s", e.name, FormatSize(e.size), FormatSize(e.lim.Bytes), e.lim.What)
}

func (e *sizeError) Is(target error) bool { return target == ErrTooLarge }

// TooLarge is the error for name being size bytes against l; size -1 when only the excess is known.
func TooLarge(name string, size int64, l Limit) error {
	return &sizeError{name: name, size: size, lim: l}
}

// FormatSize writes n bytes as people read sizes: "16 MiB", "1.5 KiB", "300 bytes".
func FormatSize(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size {
			if n%u.size == 0 {
				return fmt.Sprintf("%d %s", n/u.size, u.unit)
			}
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.size), u.unit)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// OpenFile opens path for reading after checking it is a regular file no larger than l. The returned
// reader fails with ErrTooLarge if the file grows past l while it is read. Errors name path.
func OpenFile(path string, l Limit) (io.ReadCloser, error) {
	// Stat before open: opening a FIFO blocks and opening some devices has side effects.
	st, err := os.Stat(path)
	if err != nil {
		return nil, err // *fs.PathError names path
	}
	if err := checkInfo(path, st, l); err != nil {
		return nil, err
	}
	// O_NONBLOCK so a file swapped for a FIFO after the Stat cannot block the open; it does nothing
	// for regular files. The Fstat below catches the swap.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st2, err := f.Stat()
	if err == nil {
		err = checkInfo(path, st2, l)
	}
	if err == nil && !os.SameFile(st, st2) {
		err = fmt.Errorf("%s: replaced while being opened", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &limitedFile{r: LimitReader(f, path, l), f: f}, nil
}

func checkInfo(name string, st fs.FileInfo, l Limit) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (%s is wanted)", name, ErrNotRegular, l.What)
	}
	if st.Size() > l.Bytes {
		return TooLarge(name, st.Size(), l)
	}
	return nil
}

type limitedFile struct {
	r io.Reader
	f *os.File
}

func (l *limitedFile) Read(p []byte) (int, error) { return l.r.Read(p) }
func (l *limitedFile) Close() error               { return l.f.Close() }

// ReadFile reads all of path, refusing anything but a regular file of at most l.Bytes.
func ReadFile(path string, l Limit) ([]byte, error) {
	f, err := OpenFile(path, l)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// ReadFSFile is ReadFile for a file of fsys (a guest root or a snapshot). Files of /proc say size 0, so
// the limit is held while reading too.
func ReadFSFile(fsys fs.FS, name string, l Limit) ([]byte, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	}
	if err := checkInfo(name, st, l); err != nil {
		return nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(LimitReader(f, name, l))
}

// LimitReader reads r (a stream such as stdin, or a tar entry) and fails with ErrTooLarge, naming name,
// once more than l.Bytes have come, rather than quietly cutting the input short.
func LimitReader(r io.Reader, name string, l Limit) io.Reader {
	return &limitReader{r: r, name: name, lim: l, left: l.Bytes}
}

type limitReader struct {
	r    io.Reader
	name string
	lim  Limit
	left int64 // bytes still allowed
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, TooLarge(l.name, -1, l.lim)
	}
	// Ask for one byte more than allowed, so reaching the limit exactly is not mistaken for excess.
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), TooLarge(l.name, -1, l.lim)
	}
	return n, err
}
