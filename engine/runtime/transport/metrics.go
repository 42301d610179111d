package transport

import (
	"github.com/prometheus/client_golang/prometheus"
)

// NewStatsCollector exposes the counters behind a Stats function as
// Prometheus metrics, read at scrape time (the hot paths only touch
// atomics). TCP and the NATS transport register one on their config's Registerer; for the mem
// network register NewStatsCollector(network.Stats) yourself.
//
// Series (all counters):
//
//	raftbench_transport_messages_sent_total{type}
//	raftbench_transport_messages_received_total{type}
//	raftbench_transport_messages_dropped_total{reason}
//	raftbench_transport_bytes_sent_total, raftbench_transport_bytes_received_total
//	raftbench_transport_connects_total, raftbench_transport_dial_failures_total
//	raftbench_transport_reconnects_total (NATS: broker reconnections)
//	raftbench_transport_connection_errors_total
//	raftbench_transport_auth_refused_total (mutual TLS refusals)
//	raftbench_transport_writes_total, raftbench_transport_frames_written_total
//	  (frames_written / writes is the write coalescing ratio)
func NewStatsCollector(stats func() Stats) prometheus.Collector {
	return &statsCollector{stats: stats}
}

type statsCollector struct{ stats func() Stats }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("raftbench_transport_"+name, help, labels, nil)
}

var (
	descSent     = desc("messages_sent_total", "Messages sent, by Raft message type.", "type")
	descReceived = desc("messages_received_total", "Messages received and delivered, by Raft message type.", "type")
	descDropped  = desc("messages_dropped_total", "Messages dropped, by reason.", "reason")
	descScalars  = []struct {
		d   *prometheus.Desc
		get func(*Stats) uint64
	}{
		{desc("bytes_sent_total", "Frame bytes written to peers."), func(s *Stats) uint64 { return s.BytesSent }},
		{desc("bytes_received_total", "Frame bytes read from peers."), func(s *Stats) uint64 { return s.BytesReceived }},
		{desc("connects_total", "Outbound connections established."), func(s *Stats) uint64 { return s.Connects }},
		{desc("reconnects_total", "Reconnections to a message broker after the connection was lost (NATS transport)."), func(s *Stats) uint64 { return s.Reconnects }},
		{desc("dial_failures_total", "Outbound dials that failed."), func(s *Stats) uint64 { return s.DialFailures }},
		{desc("connection_errors_total", "Connections closed because of an error."), func(s *Stats) uint64 { return s.ConnErrors }},
		{desc("auth_refused_total", "Inbound connections refused by mutual TLS (no or bad certificate, wrong identity)."), func(s *Stats) uint64 { return s.AuthRefused }},
		{desc("writes_total", "Write calls on peer connections (normally one syscall each)."), func(s *Stats) uint64 { return s.Writes }},
		{desc("frames_written_total", "Frames written; divided by writes_total it is the coalescing ratio."), func(s *Stats) uint64 { return s.FramesWritten }},
	}
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSent
	ch <- descReceived
	ch <- descDropped
	for _, s := range descScalars {
		ch <- s.d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for t, n := range s.SentByType {
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(n), t.String())
	}
	for t, n := range s.ReceivedByType {
		ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(n), t.String())
	}
	for r, n := range s.DroppedBy {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n), r.String())
	}
	for _, d := range descScalars {
		ch <- prometheus.MustNewConstMetric(d.d, prometheus.CounterValue, float64(d.get(&s)))
	}
}
