//go:build !smalllogblocks

package engine

// logBlockShift: 4096 entries (192 KiB) per block. Large enough that a
// Ready's or a MsgApp's entries rarely span two blocks and the block
// pointers stay few (about 40 for a 150k-entry log); small enough that
// the one block copied by a compaction or a truncation is cheap.
const logBlockShift = 12
