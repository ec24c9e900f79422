package main

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The audit figures of an embedded store depend on whether its file is in
// the operating system's page cache: a server that has run for a while has
// its database there (RAM permitting), a fresh start or a small machine
// does not. The bench reports how much was cached and reads the file once
// first so that runs are comparable; with --cold it evicts the file from
// the page cache instead (only this file: POSIX_FADV_DONTNEED), the state
// after a restart of the machine.

// pageCacheResidency returns the fraction of path's pages that are in the
// page cache (mincore(2) on a read-only mapping).
func pageCacheResidency(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size == 0 {
		return 1, nil
	}
	page := int64(os.Getpagesize())
	const chunk = 1 << 30
	var resident, total int64
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		data, err := syscall.Mmap(int(f.Fd()), off, int(n), syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			return 0, err
		}
		vec := make([]byte, (n+page-1)/page)
		_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(n), uintptr(unsafe.Pointer(&vec[0])))
		_ = syscall.Munmap(data)
		if errno != 0 {
			return 0, errno
		}
		for _, v := range vec {
			resident += int64(v & 1)
		}
		total += int64(len(vec))
	}
	return float64(resident) / float64(total), nil
}

// warmFile reads path once from start to end, as a server's reads would
// have brought it into the page cache over time. It refuses files larger
// than half the memory available, which could not stay cached anyway.
func warmFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if avail := procField("/proc/meminfo", "MemAvailable:") * 1024; avail > 0 && fi.Size() > avail/2 {
		return errors.New("the store is larger than half the available memory; measured cold")
	}
	buf := make([]byte, 4<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := f.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// evictFile asks the kernel to drop path's clean pages from the page cache.
func evictFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
