package transport

import (
	"sync/atomic"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// DropReason says why a transport dropped a message.
type DropReason uint8

const (
	// DropUnknownPeer: m.To is not a known peer (or is this node).
	DropUnknownPeer DropReason = iota
	// DropQueueFull: the per-peer send queue (TCP) or the receiver's
	// inbox (mem) was at its bound.
	DropQueueFull
	// DropUnreachable: the peer could not be dialled (TCP) while the
	// message waited.
	DropUnreachable
	// DropWriteError: the connection failed while the message was being
	// written.
	DropWriteError
	// DropTooLarge: the encoded message exceeds the maximum frame size.
	DropTooLarge
	// DropInvalid: the message has an invalid type or its From is not
	// the sending node.
	DropInvalid
	// DropClosed: the sender or receiver was closed.
	DropClosed
	// DropPartition: the mem network's partition or blocked link.
	DropPartition
	// DropRandom: the mem network's injected loss.
	DropRandom
	// DropMalformed: an inbound payload that did not decode, or was not
	// addressed to this node by a known peer (the NATS transport counts
	// garbage published on its subjects here; TCP closes the connection
	// instead and counts a connection error).
	DropMalformed

	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	DropUnknownPeer: "unknown_peer", DropQueueFull: "queue_full", DropUnreachable: "unreachable",
	DropWriteError: "write_error", DropTooLarge: "too_large", DropInvalid: "invalid",
	DropClosed: "closed", DropPartition: "partition", DropRandom: "random",
	DropMalformed: "malformed",
}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// maxTypes bounds the per-type counter arrays; every valid MessageType
// is below it (checked in init).
const maxTypes = 32

func init() {
	for _, t := range raftpb.AllMessageTypes() {
		if int(t) >= maxTypes {
			panic("transport: maxTypes too small for raftpb.MessageType")
		}
	}
}

// Stats is a snapshot of a transport's counters. Fields a transport has
// no use for stay zero (the mem network has no bytes or connections).
type Stats struct {
	Sent     uint64 // messages accepted by Send (TCP: written to a connection)
	Received uint64 // messages delivered to the Handler
	Dropped  uint64 // sum of DroppedBy

	SentByType     map[raftpb.MessageType]uint64
	ReceivedByType map[raftpb.MessageType]uint64
	DroppedBy      map[DropReason]uint64

	BytesSent     uint64 // frame bytes written, length prefixes included
	BytesReceived uint64 // frame bytes read, length prefixes included
	Connects      uint64 // outbound connections established
	Reconnects    uint64 // broker reconnections after a lost connection (NATS)
	DialFailures  uint64 // outbound dial or handshake failures
	ConnErrors    uint64 // connections closed because of an error (either direction)
	AuthRefused   uint64 // inbound connections refused by mutual TLS (see TCP.AuthRefusals)
	Writes        uint64 // conn.Write calls (each normally one syscall)
	FramesWritten uint64 // frames in those writes; FramesWritten/Writes is the coalescing ratio
}

// counters are the atomics behind Stats and the Prometheus collector.
// Hot paths add per batch, not per message.
type counters struct {
	sentByType    [maxTypes]atomic.Uint64
	recvByType    [maxTypes]atomic.Uint64
	dropped       [numDropReasons]atomic.Uint64
	bytesSent     atomic.Uint64
	bytesRecv     atomic.Uint64
	connects      atomic.Uint64
	dialFailures  atomic.Uint64
	connErrors    atomic.Uint64
	authRefused   atomic.Uint64
	writes        atomic.Uint64
	framesWritten atomic.Uint64
}

// typeCounts accumulates per-type counts locally before one atomic add
// per non-zero type.
type typeCounts [maxTypes]uint64

func (tc *typeCounts) add(t raftpb.MessageType) { tc[t%maxTypes]++ }

func (tc *typeCounts) flushTo(dst *[maxTypes]atomic.Uint64) {
	for i, n := range tc {
		if n != 0 {
			dst[i].Add(n)
			tc[i] = 0
		}
	}
}

func (c *counters) drop(r DropReason, n uint64) { c.dropped[r].Add(n) }

// addTo adds c's counters into s (maps are created on demand).
func (c *counters) addTo(s *Stats) {
	if s.SentByType == nil {
		s.SentByType = map[raftpb.MessageType]uint64{}
		s.ReceivedByType = map[raftpb.MessageType]uint64{}
		s.DroppedBy = map[DropReason]uint64{}
	}
	for _, t := range raftpb.AllMessageTypes() {
		if n := c.sentByType[t].Load(); n != 0 {
			s.SentByType[t] += n
			s.Sent += n
		}
		if n := c.recvByType[t].Load(); n != 0 {
			s.ReceivedByType[t] += n
			s.Received += n
		}
	}
	for r := range numDropReasons {
		if n := c.dropped[r].Load(); n != 0 {
			s.DroppedBy[r] += n
			s.Dropped += n
		}
	}
	s.BytesSent += c.bytesSent.Load()
	s.BytesReceived += c.bytesRecv.Load()
	s.Connects += c.connects.Load()
	s.DialFailures += c.dialFailures.Load()
	s.ConnErrors += c.connErrors.Load()
	s.AuthRefused += c.authRefused.Load()
	s.Writes += c.writes.Load()
	s.FramesWritten += c.framesWritten.Load()
}

func (c *counters) stats() Stats {
	var s Stats
	c.addTo(&s)
	return s
}
