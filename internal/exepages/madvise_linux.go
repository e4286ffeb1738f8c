package exepages

import "golang.org/x/sys/unix"

// madvise advises MADV_DONTNEED on [start, end): the pages of a read-only file mapping leave the page
// tables and come back from the page cache when touched.
func madvise(start, end uintptr) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
