package tracker

import "fmt"

// Inflights is a FIFO ring of the MsgApps sent to one follower and not yet
// acknowledged, each recorded by its last entry index and payload bytes.
// It is full when either the message or the byte limit is reached.
type Inflights struct {
	start    int // ring position of the oldest in-flight message
	count    int
	bytes    uint64
	maxMsgs  int
	maxBytes uint64
	// index[i], size[i] describe one message; grown lazily up to maxMsgs
	// so idle followers cost little memory.
	index []uint64
	size  []uint64
}

// NewInflights returns an empty window of at most maxMsgs messages and
// maxBytes payload bytes.
func NewInflights(maxMsgs int, maxBytes uint64) *Inflights {
	if maxMsgs <= 0 || maxBytes == 0 {
		panic(fmt.Sprintf("tracker: inflight limits must be positive (msgs=%d bytes=%d)", maxMsgs, maxBytes))
	}
	return &Inflights{maxMsgs: maxMsgs, maxBytes: maxBytes}
}

// Full reports whether no further message may be sent.
func (in *Inflights) Full() bool {
	return in.count >= in.maxMsgs || in.bytes >= in.maxBytes
}

// Count is the number of messages in flight.
func (in *Inflights) Count() int { return in.count }

// Bytes is the payload in flight.
func (in *Inflights) Bytes() uint64 { return in.bytes }

// Add records a message whose last entry is index, carrying bytes of
// payload. Indexes must increase.
func (in *Inflights) Add(index, bytes uint64) {
	if in.Full() {
		panic(fmt.Sprintf("tracker: Add(%d) to a full in-flight window (%d msgs, %d bytes)", index, in.count, in.bytes))
	}
	if in.count > 0 {
		if last := in.index[(in.start+in.count-1)%len(in.index)]; index <= last {
			panic(fmt.Sprintf("tracker: in-flight index %d not above previous %d", index, last))
		}
	}
	if in.count == len(in.index) {
		in.grow()
	}
	pos := (in.start + in.count) % len(in.index)
	in.index[pos], in.size[pos] = index, bytes
	in.count++
	in.bytes += bytes
}

// grow doubles the ring (up to maxMsgs), unrolling it to start at 0.
func (in *Inflights) grow() {
	n := 2 * len(in.index)
	if n == 0 {
		n = 4
	}
	if n > in.maxMsgs {
		n = in.maxMsgs
	}
	idx, sz := make([]uint64, n), make([]uint64, n)
	for i := 0; i < in.count; i++ {
		p := (in.start + i) % len(in.index)
		idx[i], sz[i] = in.index[p], in.size[p]
	}
	in.index, in.size, in.start = idx, sz, 0
}

// FreeLE frees every message whose last index is <= index (an ack covers
// all messages up to it).
func (in *Inflights) FreeLE(index uint64) {
	for in.count > 0 && in.index[in.start] <= index {
		in.bytes -= in.size[in.start]
		in.start = (in.start + 1) % len(in.index)
		in.count--
	}
	if in.count == 0 {
		in.start = 0
	}
}

// Reset empties the window.
func (in *Inflights) Reset() {
	in.start, in.count, in.bytes = 0, 0, 0
}
