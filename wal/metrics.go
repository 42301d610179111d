package wal

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a plain snapshot of the WAL's counters, for callers (the load
// generator) that want numbers without a Prometheus registry.
type Stats struct {
	Writes          uint64 // Submits completed durably (entries and/or hard state)
	Entries         uint64 // entries written to segments
	Bytes           uint64 // bytes written to segments, tidwall framing included
	Flushes         uint64 // group commits: one batch write, at most one log fsync
	Fsyncs          uint64 // log segment fsyncs (0 with UnsafeNoFsync)
	OtherFsyncs     uint64 // fsyncs of the hard state, snapshot and directories
	FsyncNanos      uint64 // total wall time spent in log fsyncs
	MaxBatchEntries uint64 // most entries one group commit carried
	QueueDepth      int    // writes waiting for the flusher right now
	FsyncOffload    bool   // fsyncs may go through io_uring (see Options.BlockingFsync)
	// PreallocatedSegments counts segments started in a prepared file of
	// zeros (prealloc.go; not with Options.AppendSegments), Datasyncs
	// the commits made
	// durable with fdatasync inside one.
	PreallocatedSegments, Datasyncs uint64
	// RecycledSegments counts the preallocated segments that were a
	// compacted segment's file rather than new zeros (recycle.go);
	// RecycledRefused the recycled files dropped because they could hold
	// an index of the segment they were to become (never expected).
	RecycledSegments, RecycledRefused uint64
	// Lingers counts the waits for records before a commit
	// (Options.MaxCommitDelay, LingerLimit), LingersRunOut those that
	// reached their limit without the records they waited for.
	Lingers, LingersRunOut uint64
	// Where the flusher's time goes, group commit after group commit:
	// IdleNanos waiting with nothing queued, LingerNanos in lingers
	// (whatever was queued), WriteNanos writing the segments (a
	// rotation's fsyncs included), and FsyncNanos above the commit's
	// own fsync. Over Flushes they say what one group commit's cycle is
	// made of: a log that waits for records longer than it fsyncs is
	// held by its writers' round trip, not by the disk. IdleNanos and
	// WriteNanos are timed only with fsync on (zero with UnsafeNoFsync:
	// the clock reads would be a visible share of a lone write's CPU).
	IdleNanos, LingerNanos, WriteNanos uint64
}

// counters backs Stats; written by the flusher, read by anyone.
type counters struct {
	writes, entries, bytes, flushes, fsyncs, otherFsyncs, fsyncNanos, maxBatch atomic.Uint64
	preallocated, datasyncs, lingers, lingersRunOut                            atomic.Uint64
	recycled, recycledRefused, idleNanos, lingerNanos, writeNanos              atomic.Uint64
	queueDepth                                                                 atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Writes: c.writes.Load(), Entries: c.entries.Load(), Bytes: c.bytes.Load(),
		Flushes: c.flushes.Load(), Fsyncs: c.fsyncs.Load(), OtherFsyncs: c.otherFsyncs.Load(),
		FsyncNanos: c.fsyncNanos.Load(), MaxBatchEntries: c.maxBatch.Load(),
		QueueDepth:           int(c.queueDepth.Load()),
		PreallocatedSegments: c.preallocated.Load(), Datasyncs: c.datasyncs.Load(),
		RecycledSegments: c.recycled.Load(), RecycledRefused: c.recycledRefused.Load(),
		Lingers: c.lingers.Load(), LingersRunOut: c.lingersRunOut.Load(),
		IdleNanos: c.idleNanos.Load(), LingerNanos: c.lingerNanos.Load(), WriteNanos: c.writeNanos.Load(),
	}
}

// metrics are the Prometheus collectors. A nil *metrics records nothing.
type metrics struct {
	reg             prometheus.Registerer
	fsyncs          prometheus.Counter
	fsyncSeconds    prometheus.Histogram
	entriesPerFsync prometheus.Histogram
	bytesPerFsync   prometheus.Histogram
	queueDepth      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		reg: reg,
		fsyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raftbench_wal_fsyncs_total", Help: "Log segment fsyncs (one per group commit)."}),
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "raftbench_wal_fsync_duration_seconds", Help: "Latency of one log segment fsync.",
			Buckets: prometheus.ExponentialBuckets(20e-6, 2, 16)}),
		entriesPerFsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "raftbench_wal_entries_per_fsync", Help: "Entries made durable by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		bytesPerFsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "raftbench_wal_bytes_per_fsync", Help: "Bytes made durable by one group commit.",
			Buckets: prometheus.ExponentialBuckets(128, 4, 10)}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "raftbench_wal_queue_depth", Help: "Writes waiting for the flusher."}),
	}
	for i, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors()[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.fsyncs, m.fsyncSeconds, m.entriesPerFsync, m.bytesPerFsync, m.queueDepth}
}

func (m *metrics) unregister() {
	if m == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}

func (m *metrics) observeFlush(entries, bytes int, fsync time.Duration, synced bool) {
	if m == nil {
		return
	}
	if synced {
		m.fsyncs.Inc()
		m.fsyncSeconds.Observe(fsync.Seconds())
	}
	m.entriesPerFsync.Observe(float64(entries))
	m.bytesPerFsync.Observe(float64(bytes))
}

func (m *metrics) setQueueDepth(n int) {
	if m != nil {
		m.queueDepth.Set(float64(n))
	}
}
