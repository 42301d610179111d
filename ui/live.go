package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/raftbench/raftbench/engine/runtime/node"
)

// NodeSample is one node's state at one moment, as a source reads it.
type NodeSample struct {
	Name string `json:"name"`
	// Reachable is false when the node is stopped, killed or does not
	// answer; Error then says why.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Status is node.Status as JSON, kept generic so that fields added to
	// it later appear in the view without a change here.
	Status map[string]any `json:"status,omitempty"`
	Stats  node.Stats     `json:"stats"`
	// Sent and Recv count Raft messages by type since the node started.
	Sent map[string]uint64 `json:"sent,omitempty"`
	Recv map[string]uint64 `json:"recv,omitempty"`
	// Latency is the node's propose-to-apply histogram (cumulative
	// buckets, seconds), for server-side latency when no load generator
	// reports client latencies.
	Latency []Bucket `json:"latency,omitempty"`
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64 `json:"le"`
	Count      uint64  `json:"n"`
}

// NodeSource reads one node. Sample must return within ctx's deadline.
type NodeSource interface {
	Sample(ctx context.Context) NodeSample
}

// LocalNode reads a node of this process. Node returns the running
// incarnation (nil while it is killed); Gatherer, when set, is the
// registry the node's metrics are registered on (label node=ID).
type LocalNode struct {
	Name     string
	ID       uint64
	Node     func() *node.Node
	Gatherer prometheus.Gatherer
}

// Sample implements NodeSource.
func (l LocalNode) Sample(ctx context.Context) NodeSample {
	s := NodeSample{Name: l.Name}
	n := l.Node()
	if n == nil {
		s.Error = "not running"
		return s
	}
	st := n.Status()
	if st.Stopped {
		s.Error = "stopped"
		return s
	}
	s.Reachable = true
	s.Status = toMap(st)
	s.Stats = n.Stats()
	if l.Gatherer != nil {
		s.Sent, s.Recv, s.Latency = gatherNode(ctx, l.Gatherer, strconv.FormatUint(l.ID, 10))
	}
	return s
}

// toMap turns v into its generic JSON form.
func toMap(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{"error": err.Error()}
	}
	return m
}

// gatherNode reads one node's message counters and propose-to-apply
// histogram from a registry.
func gatherNode(ctx context.Context, g prometheus.Gatherer, id string) (sent, recv map[string]uint64, lat []Bucket) {
	var fams []*dto.MetricFamily
	var err error
	if sg, ok := g.(*sharedGather); ok {
		fams, err = sg.gather(ctx)
	} else {
		fams, err = g.Gather()
	}
	if err != nil && len(fams) == 0 {
		return nil, nil, nil
	}
	for _, f := range fams {
		var into map[string]uint64
		switch f.GetName() {
		case "raftbench_node_messages_sent_total":
			sent = map[string]uint64{}
			into = sent
		case "raftbench_node_messages_received_total":
			recv = map[string]uint64{}
			into = recv
		case "raftbench_node_propose_to_apply_seconds":
		default:
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "node") != id {
				continue
			}
			if into != nil {
				if v := m.GetCounter().GetValue(); v > 0 {
					into[label(m, "type")] = uint64(v)
				}
				continue
			}
			for _, b := range m.GetHistogram().GetBucket() {
				lat = append(lat, Bucket{UpperBound: b.GetUpperBound(), Count: b.GetCumulativeCount()})
			}
		}
	}
	return sent, recv, lat
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// RemoteNode reads a node of another process through its view's
// /ui/api/node route.
type RemoteNode struct {
	Name string
	// URL is the node's HTTP base address (http://host:port).
	URL    string
	Client *http.Client
}

// maxNodeSample bounds a remote node's answer.
const maxNodeSample = 4 << 20

// Sample implements NodeSource.
func (r RemoteNode) Sample(ctx context.Context) NodeSample {
	fail := func(err error) NodeSample { return NodeSample{Name: r.Name, Error: err.Error()} }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+Prefix+"api/node", nil)
	if err != nil {
		return fail(err)
	}
	c := r.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("GET %s: %s", req.URL, resp.Status))
	}
	var s NodeSample
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxNodeSample)).Decode(&s); err != nil {
		return fail(fmt.Errorf("GET %s: %w", req.URL, err))
	}
	s.Name = r.Name
	return s
}

// sampleKey carries a sample's number to the sources, so nodes sharing
// a registry gather it once per sample.
type sampleKey struct{}

// Point is one second of the cluster's load.
type Point struct {
	T   int64   `json:"t"` // Unix milliseconds
	Ops float64 `json:"ops"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

// Event is a marker on the timeline.
type Event struct {
	T    int64  `json:"t"`    // Unix milliseconds
	Kind string `json:"kind"` // leader, fault, down, up
	Text string `json:"text"`
}

// NodeView is a node's sample with the rates since the previous sample.
type NodeView struct {
	NodeSample
	SentPerSec      map[string]float64 `json:"sent_per_s,omitempty"`
	RecvPerSec      map[string]float64 `json:"recv_per_s,omitempty"`
	FsyncsPerSec    float64            `json:"fsyncs_per_s"`
	EntriesPerFsync float64            `json:"entries_per_fsync"`
}

// Frame is what the live view shows at one moment.
type Frame struct {
	T      int64      `json:"t"`
	Title  string     `json:"title"`
	Nodes  []NodeView `json:"nodes"`
	Leader string     `json:"leader"` // name of the node leading in the highest term ("" none)
	Term   uint64     `json:"term"`
	// Load says where Series comes from: "client" (a load generator's
	// latencies, from the client's side) or "server" (the leader's
	// applied index and propose-to-apply histogram).
	Load   string  `json:"load"`
	Series []Point `json:"series"`
	Events []Event `json:"events"`
}

// Window is how much history the charts keep.
const Window = time.Minute

// maxEvents bounds the timeline.
const maxEvents = 500

// Live samples a cluster's nodes on a timer and keeps the last minute.
type Live struct {
	title    string
	sources  []NodeSource
	interval time.Duration
	timeout  time.Duration

	seq      uint64 // samples taken (only the sampling goroutine touches it)
	onDemand bool
	asked    atomic.Int64 // Unix nanoseconds of the last Frame call

	mu     sync.Mutex
	frame  *Frame
	gen    chan struct{} // closed when a new frame is ready
	prev   []NodeSample
	prevAt time.Time
	series []Point
	client bool // a load generator reports points
	events []Event
	leader string
	wasUp  []bool
}

// LiveConfig configures a Live.
type LiveConfig struct {
	Title   string
	Sources []NodeSource
	// Interval between samples (default 500ms: at least two frames a second).
	Interval time.Duration
	// OnDemand samples only while someone looks (a frame was asked for
	// in the last idleAfter), so an unwatched view costs nothing; the
	// charts then start when the first viewer arrives.
	OnDemand bool
}

// idleAfter is how long an on-demand view keeps sampling after the last
// frame was asked for.
const idleAfter = 10 * time.Second

// NewLive returns a Live; Run samples until its context ends.
func NewLive(cfg LiveConfig) (*Live, error) {
	if len(cfg.Sources) == 0 {
		return nil, errors.New("ui: a live view needs at least one node")
	}
	if cfg.Interval == 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Interval < 50*time.Millisecond || cfg.Interval > 10*time.Second {
		return nil, fmt.Errorf("ui: sample interval %v outside [50ms, 10s]", cfg.Interval)
	}
	return &Live{title: cfg.Title, sources: cfg.Sources, interval: cfg.Interval, timeout: max(cfg.Interval, time.Second),
		onDemand: cfg.OnDemand, gen: make(chan struct{}), wasUp: make([]bool, len(cfg.Sources))}, nil
}

// Run samples every interval until ctx ends.
func (l *Live) Run(ctx context.Context) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		if !l.onDemand || time.Since(time.Unix(0, l.asked.Load())) < idleAfter {
			l.sampleOnce(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Mark puts a marker on the timeline (a fault injected, a phase).
func (l *Live) Mark(kind, text string) {
	l.mu.Lock()
	l.addEvent(Event{T: time.Now().UnixMilli(), Kind: kind, Text: text})
	l.mu.Unlock()
}

// Load records one second of client-side load (throughput and latency
// percentiles in milliseconds); once called, the charts show these
// instead of the server-side estimate.
func (l *Live) Load(at time.Time, opsPerSec, p50ms, p99ms float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.client {
		l.client, l.series = true, nil
	}
	l.series = append(l.series, Point{T: at.UnixMilli(), Ops: opsPerSec, P50: p50ms, P99: p99ms})
	l.trim(at)
}

func (l *Live) addEvent(e Event) {
	l.events = append(l.events, e)
	if len(l.events) > maxEvents {
		l.events = l.events[len(l.events)-maxEvents:]
	}
}

func (l *Live) trim(now time.Time) {
	cut := now.Add(-Window).UnixMilli()
	i := sort.Search(len(l.series), func(i int) bool { return l.series[i].T >= cut })
	l.series = l.series[i:]
}

// sampleOnce reads every node in parallel and publishes a frame.
func (l *Live) sampleOnce(ctx context.Context) {
	l.seq++
	sctx, cancel := context.WithTimeout(context.WithValue(ctx, sampleKey{}, l.seq), l.timeout)
	defer cancel()
	samples := make([]NodeSample, len(l.sources))
	var wg sync.WaitGroup
	for i, src := range l.sources {
		wg.Add(1)
		go func() { defer wg.Done(); samples[i] = src.Sample(sctx) }()
	}
	wg.Wait()
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := &Frame{T: now.UnixMilli(), Title: l.title}
	dt := now.Sub(l.prevAt).Seconds()
	var leaderIdx = -1
	for i, s := range samples {
		v := NodeView{NodeSample: s}
		if l.prev != nil && dt > 0 && s.Reachable && l.prev[i].Reachable {
			p := l.prev[i]
			v.SentPerSec, v.RecvPerSec = rates(s.Sent, p.Sent, dt), rates(s.Recv, p.Recv, dt)
			fs := float64(s.Stats.Fsyncs - p.Stats.Fsyncs)
			v.FsyncsPerSec = fs / dt
			if fs > 0 && s.Stats.FsyncEntries >= p.Stats.FsyncEntries {
				v.EntriesPerFsync = float64(s.Stats.FsyncEntries-p.Stats.FsyncEntries) / fs
			}
		}
		if s.Reachable != l.wasUp[i] && l.prev != nil {
			kind, text := "up", s.Name+" is up"
			if !s.Reachable {
				kind, text = "down", s.Name+" is down: "+s.Error
			}
			l.addEvent(Event{T: f.T, Kind: kind, Text: text})
		}
		l.wasUp[i] = s.Reachable
		if s.Reachable && num(s.Status, "term") >= f.Term && str(s.Status, "role") == "leader" {
			f.Term, leaderIdx = num(s.Status, "term"), i
		}
		f.Nodes = append(f.Nodes, v)
	}
	if leaderIdx >= 0 {
		f.Leader = samples[leaderIdx].Name
	}
	if f.Leader != l.leader && (f.Leader != "" || l.leader != "") {
		text := "no leader"
		if f.Leader != "" {
			text = fmt.Sprintf("%s leads (term %d)", f.Leader, f.Term)
		}
		l.addEvent(Event{T: f.T, Kind: "leader", Text: text})
		l.leader = f.Leader
	}
	if !l.client && l.prev != nil && dt > 0 {
		l.serverPoint(now, dt, samples, leaderIdx)
	}
	l.trim(now)
	f.Load = "server"
	if l.client {
		f.Load = "client"
	}
	f.Series = append([]Point(nil), l.series...)
	cut := now.Add(-Window).UnixMilli()
	for _, e := range l.events {
		if e.T >= cut {
			f.Events = append(f.Events, e)
		}
	}
	l.prev, l.prevAt = samples, now
	l.frame = f
	close(l.gen)
	l.gen = make(chan struct{})
}

// serverPoint estimates the load from the leader: entries applied per
// second and the quantiles of its propose-to-apply histogram's new
// observations.
func (l *Live) serverPoint(now time.Time, dt float64, samples []NodeSample, leaderIdx int) {
	p := Point{T: now.UnixMilli()}
	if leaderIdx >= 0 && l.prev[leaderIdx].Reachable {
		cur, old := samples[leaderIdx], l.prev[leaderIdx]
		a, b := num(cur.Status, "applied"), num(old.Status, "applied")
		if a >= b {
			p.Ops = float64(a-b) / dt
		}
		p.P50, p.P99 = quantileDelta(cur.Latency, old.Latency, 0.50)*1000, quantileDelta(cur.Latency, old.Latency, 0.99)*1000
	}
	l.series = append(l.series, p)
}

// quantileDelta is the q-quantile (upper bucket bound) of the
// observations between two cumulative histograms (0 when none).
func quantileDelta(cur, old []Bucket, q float64) float64 {
	if len(cur) == 0 || len(cur) != len(old) {
		return 0
	}
	total := float64(cur[len(cur)-1].Count) - float64(old[len(old)-1].Count)
	if total <= 0 {
		return 0
	}
	want := math.Ceil(q * total)
	for i := range cur {
		if float64(cur[i].Count)-float64(old[i].Count) >= want {
			return cur[i].UpperBound
		}
	}
	return cur[len(cur)-1].UpperBound
}

func rates(cur, old map[string]uint64, dt float64) map[string]float64 {
	if len(cur) == 0 {
		return nil
	}
	out := make(map[string]float64, len(cur))
	for k, v := range cur {
		if o := old[k]; v >= o {
			out[k] = float64(v-o) / dt
		}
	}
	return out
}

func num(m map[string]any, k string) uint64 {
	if f, ok := m[k].(float64); ok && f > 0 {
		return uint64(f)
	}
	return 0
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Frame returns the latest frame (nil before the first sample) and a
// channel closed when the next one is ready.
func (l *Live) Frame() (*Frame, <-chan struct{}) {
	l.asked.Store(time.Now().UnixNano())
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.frame, l.gen
}
