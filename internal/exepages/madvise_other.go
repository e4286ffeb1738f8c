//go:build !linux

package exepages

// madvise does nothing where /proc/self/maps does not exist: Drop finds no mapping to advise.
func madvise(start, end uintptr) error { return nil }
