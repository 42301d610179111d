//go:build !linux

package kv

import "sync/atomic"

// mapSlab and mapIndexArray: slabs and index arrays live on the heap
// where the mapping calls are not used.
func mapSlab(int, bool) ([]byte, *offHeapMapping) { return nil, nil }

func mapIndexArray(int, bool) ([]byte, *offHeapMapping) { return nil, nil }

var mappedSlabs, mappedIndexArrays atomic.Int64
