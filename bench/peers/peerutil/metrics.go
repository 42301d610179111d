package peerutil

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/bench"
)

// RegisterMetrics exports the target's cumulative Stats as counters on
// reg (nil: nothing), labelled with the system name. The counters read
// stats at scrape time, so they cost nothing on the request path.
func RegisterMetrics(reg prometheus.Registerer, system string, stats func() bench.TargetStats) error {
	if reg == nil {
		return nil
	}
	for _, c := range []struct {
		name, help string
		get        func(bench.TargetStats) uint64
	}{
		{"fsyncs_total", "fsync calls on log files", func(s bench.TargetStats) uint64 { return s.Fsyncs }},
		{"fsync_entries_total", "entries made durable by those fsyncs", func(s bench.TargetStats) uint64 { return s.FsyncEntries }},
		{"append_msgs_total", "AppendEntries messages sent", func(s bench.TargetStats) uint64 { return s.AppendMsgs }},
		{"append_entries_total", "entries carried by AppendEntries messages", func(s bench.TargetStats) uint64 { return s.AppendEntries }},
		{"leader_changes_total", "times a node became leader", func(s bench.TargetStats) uint64 { return s.LeaderChanges }},
	} {
		get := c.get
		cf := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "raftbench", Subsystem: "peer", Name: c.name, Help: c.help,
			ConstLabels: prometheus.Labels{"system": system},
		}, func() float64 { return float64(get(stats())) })
		if err := reg.Register(cf); err != nil {
			return fmt.Errorf("%s: register metric %s: %w", system, c.name, err)
		}
	}
	return nil
}
