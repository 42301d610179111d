//go:build !linux

package kv

// populate does nothing where MADV_POPULATE_WRITE does not exist: pages
// fault in on first write.
func populate([]byte) {}
