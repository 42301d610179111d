package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine/embed/cluster"
)

// TestHTTPAPI drives a follower's API (everything forwarded by the core)
// of an in-process cluster and checks every status code.
func TestHTTPAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	c, err := cluster.StartInProc(ctx, cluster.Config{Nodes: 3, Dir: t.TempDir(), Fsync: true, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	follower := c.Node(c.Leader().ID()%3 + 1)
	h, err := NewServer(Config{Node: follower, Gatherer: reg, MaxBodyBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	cl := NewClient(ts.URL, ts.Client())

	if err := cl.Put(ctx, "a", []byte("1"), Session{}); err != nil {
		t.Fatal(err)
	}
	if v, err := cl.Get(ctx, "a"); err != nil || string(v) != "1" {
		t.Fatalf("get a = %q, %v", v, err)
	}
	if _, err := cl.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if err := cl.Cas(ctx, "a", "2", "3", false, Session{}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("cas mismatch: %v", err)
	}
	if err := cl.Cas(ctx, "nope", "1", "2", false, Session{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cas missing: %v", err)
	}
	if err := cl.Cas(ctx, "nope", "", "new", true, Session{}); err != nil {
		t.Fatalf("cas create_if_missing: %v", err)
	}
	// A retried cas with the same session applies once and gets the
	// first answer (204), not 409.
	for i := 0; i < 2; i++ {
		if err := cl.Cas(ctx, "a", "1", "2", false, Session{ClientID: 9, Seq: 1}); err != nil {
			t.Fatalf("cas attempt %d: %v", i, err)
		}
	}
	if v, _ := cl.Get(ctx, "a"); string(v) != "2" {
		t.Fatalf("a = %q after cas", v)
	}

	codes := []struct {
		method, path, body string
		header             map[string]string
		want               int
	}{
		{"DELETE", "/kv/a", "", nil, http.StatusMethodNotAllowed},
		{"GET", "/kv/a/cas", "", nil, http.StatusMethodNotAllowed},
		{"POST", "/kv/a/cas", "{not json", nil, http.StatusBadRequest},
		{"POST", "/kv/a/cas", `{"from":"1"}`, nil, http.StatusBadRequest},
		{"POST", "/kv/a/cas", `{"from":"1","to":"2","extra":1}`, nil, http.StatusBadRequest},
		{"PUT", "/kv/a", strings.Repeat("x", 2000), nil, http.StatusRequestEntityTooLarge},
		{"PUT", "/kv/a", "v", map[string]string{"X-Client-Id": "7"}, http.StatusBadRequest},
		{"PUT", "/kv/a", "v", map[string]string{"X-Client-Id": "x", "X-Seq": "1"}, http.StatusBadRequest},
		{"PUT", "/kv/a", "v", map[string]string{"X-Client-Id": "7", "X-Seq": "1"}, http.StatusNoContent},
		{"GET", "/status", "", nil, http.StatusOK},
	}
	for _, tc := range codes {
		req, _ := http.NewRequestWithContext(ctx, tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, b, tc.want)
		}
	}
	st, err := cl.Status(ctx)
	if err != nil || st.ID != follower.ID() || st.Leader == 0 || st.RoleName != "follower" || st.Applied == 0 {
		t.Fatalf("status %+v, %v", st, err)
	}
	checkMetrics(t, ts.URL+"/metrics")
}

// wantSeries are the metric families /metrics must expose.
var wantSeries = []string{
	"raftbench_node_term", "raftbench_node_role", "raftbench_node_leader_changes_total",
	"raftbench_node_commit_index", "raftbench_node_applied_index", "raftbench_node_proposals_total",
	"raftbench_node_entries_per_ready", "raftbench_node_append_entries_per_msg",
	"raftbench_node_append_bytes_per_msg", "raftbench_node_inflight_msgs",
	"raftbench_node_propose_to_commit_seconds", "raftbench_node_commit_to_apply_seconds",
	"raftbench_node_messages_sent_total", "raftbench_node_messages_received_total",
	"raftbench_node_dropped_messages_total", "raftbench_wal_fsync_duration_seconds",
}

func checkMetrics(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, s := range wantSeries {
		if !strings.Contains(string(b), "\n"+s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
}
