//go:build smalllogblocks

package engine

// logBlockShift with the smalllogblocks tag: 8 entries per block, so
// the core tests' and the simulator's short logs exercise appends,
// compactions, truncations and slices across block boundaries.
const logBlockShift = 3
