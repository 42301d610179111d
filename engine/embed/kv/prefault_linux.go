//go:build linux

package kv

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// populate maps every whole page of b now (MADV_POPULATE_WRITE, Linux
// 5.14+). Only a hint: on an older kernel, or if the kernel refuses, the
// pages fault in on first write as before.
func populate(b []byte) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	page := uintptr(unix.Getpagesize())
	start := (base + page - 1) &^ (page - 1)
	end := (base + uintptr(len(b))) &^ (page - 1)
	if end <= start {
		return
	}
	_ = unix.Madvise(b[start-base:end-base], unix.MADV_POPULATE_WRITE)
}
