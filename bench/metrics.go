package bench

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics are the load generator's Prometheus series. They are updated
// once a second from the merged histograms, never per operation, so
// they cost the hot path nothing.
type Metrics struct {
	ops       *prometheus.CounterVec // by op
	results   *prometheus.CounterVec // by status
	errs      *prometheus.CounterVec // by kind
	late      prometheus.Counter
	latency   *prometheus.GaugeVec // last second, by quantile
	service   *prometheus.GaugeVec
	opsPerSec prometheus.Gauge
	warmup    prometheus.Gauge
}

// NewMetrics registers the load generator's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftbench_load_ops_total", Help: "Operations answered by the target, by operation.",
		}, []string{"op"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftbench_load_results_total", Help: "Operations answered, by state machine result.",
		}, []string{"result"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftbench_load_errors_total", Help: "Operations without an answer, by kind.",
		}, []string{"kind"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raftbench_load_late_sends_total", Help: "Open-loop requests sent more than 1 ms after their intended time.",
		}),
		latency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftbench_load_latency_seconds", Help: "Latency over the last second (from intended send time in the open loop).",
		}, []string{"quantile"}),
		service: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "raftbench_load_service_seconds", Help: "Raw service time (from actual send) over the last second.",
		}, []string{"quantile"}),
		opsPerSec: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "raftbench_load_throughput_ops", Help: "Operations answered per second over the last second.",
		}),
		warmup: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "raftbench_load_warmup", Help: "1 while the run is in its warm-up period.",
		}),
	}
	for _, c := range []prometheus.Collector{m.ops, m.results, m.errs, m.late, m.latency, m.service, m.opsPerSec, m.warmup} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register load generator metrics: %w", err)
		}
	}
	return m, nil
}

// observe adds one second's bucket; a nil Metrics ignores it.
func (m *Metrics) observe(b *bucket, is *IntervalStats) {
	if m == nil {
		return
	}
	for i, name := range opNames {
		if i < opInsert || b.c.ops[i] > 0 {
			m.ops.WithLabelValues(name).Add(float64(b.c.ops[i]))
		}
	}
	for i, name := range [3]string{"ok", "not_found", "mismatch"} {
		m.results.WithLabelValues(name).Add(float64(b.c.status[i]))
	}
	for i, n := range b.c.errs {
		m.errs.WithLabelValues(errKindNames[i]).Add(float64(n))
	}
	m.late.Add(float64(b.c.late))
	for _, q := range []struct {
		label string
		p     float64
	}{{"0.5", 50}, {"0.9", 90}, {"0.99", 99}, {"0.999", 99.9}, {"1", 100}} {
		m.latency.WithLabelValues(q.label).Set(float64(b.lat.ValueAtPercentile(q.p)) / 1e6)
		m.service.WithLabelValues(q.label).Set(float64(b.service().ValueAtPercentile(q.p)) / 1e6)
	}
	m.opsPerSec.Set(is.OpsPerSec)
	if is.Warmup {
		m.warmup.Set(1)
	} else {
		m.warmup.Set(0)
	}
}

// MetricsServer serves /metrics from the load generator's registry and
// the current target's registry. SetTarget swaps the latter, so a sweep
// can build a fresh cluster (with fresh metrics) for every rate.
type MetricsServer struct {
	Load *prometheus.Registry // the load generator's own registry

	mu     sync.Mutex
	target prometheus.Gatherer
	srv    *http.Server
	ln     net.Listener
}

// NewMetricsServer listens on addr (for example 127.0.0.1:9100).
func NewMetricsServer(addr string) (*MetricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %q: %w", addr, err)
	}
	s := &MetricsServer{Load: prometheus.NewRegistry(), ln: ln}
	s.Load.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.GathererFunc(s.gather), promhttp.HandlerOpts{}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *MetricsServer) Addr() string { return s.ln.Addr().String() }

// NewTargetRegistry returns a fresh registry for the next target and
// serves it from now on.
func (s *MetricsServer) NewTargetRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	s.mu.Lock()
	s.target = reg
	s.mu.Unlock()
	return reg
}

func (s *MetricsServer) gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	t := s.target
	s.mu.Unlock()
	g := prometheus.Gatherers{s.Load}
	if t != nil {
		g = append(g, t)
	}
	return g.Gather()
}

// Close stops serving.
func (s *MetricsServer) Close() error { return s.srv.Close() }
