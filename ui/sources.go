package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// ParsePeerURLs parses "n2=http://127.0.0.1:8002,n3=http://127.0.0.1:8003"
// (the HTTP addresses of the other nodes of a serve cluster), in order.
func ParsePeerURLs(s string) ([][2]string, error) {
	var out [][2]string
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, raw, ok := strings.Cut(part, "=")
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("%q: want name=http://host:port", part)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("%s: %q: want http://host:port", name, raw)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s listed twice", name)
		}
		seen[name] = true
		out = append(out, [2]string{name, strings.TrimSuffix(raw, "/")})
	}
	return out, nil
}

// ServeSources are the sources of a serve node's view: this node first,
// then every peer through its own view, all ordered by name.
func ServeSources(self LocalNode, peers [][2]string, client *http.Client) []NodeSource {
	type named struct {
		name string
		src  NodeSource
	}
	all := []named{{self.Name, self}}
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	for _, p := range peers {
		if p[0] == self.Name {
			continue
		}
		all = append(all, named{p[0], RemoteNode{Name: p[0], URL: p[1], Client: client}})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	out := make([]NodeSource, len(all))
	for i, a := range all {
		out[i] = a.src
	}
	return out
}

// ClusterSources are the sources of an in-process cluster's nodes, named
// n1..nN; g is the registry their metrics are on (nil: no message rates).
func ClusterSources(c *cluster.Cluster, g prometheus.Gatherer) []NodeSource {
	if g != nil {
		g = &sharedGather{g: g} // one gather per sample, not one per node
	}
	var out []NodeSource
	for _, id := range c.IDs() {
		out = append(out, LocalNode{Name: fmt.Sprintf("n%d", id), ID: id, Gatherer: g,
			Node: func() *node.Node { return c.Node(id) }})
	}
	return out
}

// StartLive samples sources until ctx ends; stop waits for the sampler.
func StartLive(ctx context.Context, title string, sources []NodeSource) (*Live, func(), error) {
	l, err := NewLive(LiveConfig{Title: title, Sources: sources})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	return l, func() { cancel(); <-done }, nil
}

// ForServe is the hook (httpapi.ServeConfig.Extra) that gives a serve
// node its view under Prefix: this node (name) and the peers at their
// HTTP addresses, sampled from the node's start until its shutdown.
// client (nil: plain HTTP, 2 s timeout) reads the peers: where their API
// requires TLS or a credential, it must carry them.
func ForServe(name string, peers [][2]string, client *http.Client) func(n *node.Node, g prometheus.Gatherer) (map[string]http.Handler, func()) {
	return func(n *node.Node, g prometheus.Gatherer) (map[string]http.Handler, func()) {
		self := LocalNode{Name: name, ID: n.Status().ID, Gatherer: g, Node: func() *node.Node { return n }}
		// On demand: a node nobody watches spends nothing on its view.
		live, _ := NewLive(LiveConfig{Title: "serve " + name, Sources: ServeSources(self, peers, client), OnDemand: true}) // one source at least: no error
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); live.Run(ctx) }()
		h := New(Config{Live: live, Local: self})
		return map[string]http.Handler{Prefix: h}, func() { h.Close(); cancel(); <-done }
	}
}

// sharedGather gathers once per sample for the nodes that share a
// registry (the sample's number travels in its context).
type sharedGather struct {
	g    prometheus.Gatherer
	mu   sync.Mutex
	seq  uint64
	fams []*dto.MetricFamily
	err  error
}

func (s *sharedGather) gather(ctx context.Context) ([]*dto.MetricFamily, error) {
	seq, _ := ctx.Value(sampleKey{}).(uint64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq == 0 || seq != s.seq || s.fams == nil {
		s.fams, s.err = s.g.Gather()
		s.seq = seq
	}
	return s.fams, s.err
}

func (s *sharedGather) Gather() ([]*dto.MetricFamily, error) { return s.g.Gather() }
