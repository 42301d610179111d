package bench

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsServerServesLoadAndTargetMetrics(t *testing.T) {
	srv, err := NewMetricsServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m, err := NewMetrics(srv.Load)
	if err != nil {
		t.Fatal(err)
	}
	// A second registration on the same registry is an error, not a panic.
	if _, err := NewMetrics(srv.Load); err == nil {
		t.Error("registering the load metrics twice should fail")
	}
	reg := srv.NewTargetRegistry()
	nodeMetric := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_node_fsyncs_total", Help: "x"})
	reg.MustRegister(nodeMetric)
	nodeMetric.Add(7)

	cfg := shortConfig()
	cfg.Metrics = m
	if _, err := Run(context.Background(), cfg, newFake(), nil); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{`raftbench_load_ops_total{op="write"}`, `raftbench_load_latency_seconds{quantile="0.99"}`,
		"raftbench_load_throughput_ops", "test_node_fsyncs_total 7", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `raftbench_load_ops_total{op="write"} 0`+"\n") {
		t.Error("write counter never advanced")
	}
}
