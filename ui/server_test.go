package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/chaos/harness"
	"github.com/raftbench/raftbench/chaos/sim"
)

// fakeSource is a node that answers with a fixed sample.
type fakeSource struct{ s NodeSample }

func (f fakeSource) Sample(context.Context) NodeSample { return f.s }

func get(t *testing.T, h http.Handler, method, url string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, url, nil))
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestHandlerErrors(t *testing.T) {
	rec, _, err := RecordSim(7, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	replays := NewReplays()
	replays.Add(rec)
	chaos := NewChaos("test")
	h := New(Config{Replays: replays, Chaos: chaos})
	for _, tc := range []struct {
		method, url string
		code        int
		msg         string
	}{
		{"GET", "/ui/api/sim?seed=abc", 400, `seed "abc": want a decimal number`},
		{"GET", "/ui/api/sim?seed=-1", 400, "want a decimal number"},
		{"GET", "/ui/api/sim", 400, "seed is required"},
		{"GET", "/ui/api/sim?seed=7&speed=2", 400, `unknown query parameter "speed" (known: seed)`},
		{"GET", "/ui/api/sim?seed=8", 404, "seed 8 was not recorded (recorded: [7])"},
		{"GET", "/ui/api/chaos?since=x", 400, `since "x": want a non-negative operation count`},
		{"GET", "/ui/api/chaos?since=-3", 400, "non-negative"},
		{"GET", "/ui/api/live", 404, "no live cluster"},
		{"GET", "/ui/api/live/stream", 404, "no live cluster"},
		{"GET", "/ui/api/node", 404, "no node in this process"},
		{"GET", "/ui/api/info?x=1", 400, "takes none"},
		{"POST", "/ui/api/sim?seed=7", 405, "read-only"},
		{"DELETE", "/ui/", 405, "read-only"},
	} {
		code, body := get(t, h, tc.method, tc.url)
		msg, _ := body["error"].(string)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.url, code, msg, tc.code, tc.msg)
		}
	}
	if code, _ := get(t, New(Config{}), "GET", "/ui/api/sim?seed=1"); code != 404 {
		t.Errorf("sim without replays: %d, want 404", code)
	}
	if code, body := get(t, h, "GET", "/ui/api/sim?seed=7"); code != 200 || body["seed"].(float64) != 7 {
		t.Errorf("recorded seed: %d %v", code, body["seed"])
	}
	for _, page := range []string{"/ui/", "/ui/sim", "/ui/chaos", "/ui/static/app.js", "/ui/static/style.css"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", page, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d, %d bytes", page, rec.Code, rec.Body.Len())
		}
	}
}

func TestChaosPages(t *testing.T) {
	c := NewChaos("t")
	for i := 0; i < 5; i++ {
		c.Op(check.Op{Client: i, Kind: check.Write, Key: "0", Value: "1", Call: int64(i) * 1e6, Return: int64(i+1) * 1e6, Outcome: check.OK})
	}
	c.Op(check.Op{Client: 9, Kind: check.Read, Key: "1", Call: 1e6, Outcome: check.Info})
	c.Fault(harness.Applied{Event: harness.Event{Kind: "partition", Action: "start"}, AppliedMs: 2})
	h := New(Config{Chaos: c})
	code, body := get(t, h, "GET", "/ui/api/chaos?since=4")
	if code != 200 || len(body["ops"].([]any)) != 2 || body["next"].(float64) != 6 || body["done"].(bool) {
		t.Fatalf("since=4: %d %v", code, body)
	}
	info := body["ops"].([]any)[1].(map[string]any)
	if info["outcome"] != "info" || info["return_ms"].(float64) != -1 || info["kind"] != "read" {
		t.Errorf("info op: %v", info)
	}
	c.Finish(&harness.Summary{Valid: true, Linearizable: true, Verdict: "linearizable"}, nil)
	_, body = get(t, h, "GET", "/ui/api/chaos?since=100")
	if !body["done"].(bool) || body["verdict"].(map[string]any)["verdict"] != "linearizable" || len(body["ops"].([]any)) != 0 {
		t.Errorf("after finish: %v", body)
	}
}

// TestLiveFramesAndRemote: a live view over one local and one remote
// node (served by another view's /ui/api/node) finds the leader, turns
// counters into rates, marks leader changes and nodes going down.
func TestLiveFramesAndRemote(t *testing.T) {
	leader := NodeSample{Name: "n1", Reachable: true, Status: map[string]any{"role": "leader", "term": 3.0, "applied": 10.0, "commit": 10.0, "learners": []any{4.0}},
		Sent: map[string]uint64{"MsgApp": 100}}
	peer := &fakeSource{NodeSample{Name: "n2", Reachable: true, Status: map[string]any{"role": "follower", "term": 3.0}}}
	remote := httptest.NewServer(New(Config{Local: peer}))
	defer remote.Close()
	src := &fakeSource{leader}
	l, err := NewLive(LiveConfig{Sources: []NodeSource{src, RemoteNode{Name: "n2", URL: remote.URL}}, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l.sampleOnce(ctx)
	time.Sleep(100 * time.Millisecond)
	src.s.Sent = map[string]uint64{"MsgApp": 200}
	src.s.Status = map[string]any{"role": "leader", "term": 3.0, "applied": 30.0}
	l.sampleOnce(ctx)
	f, _ := l.Frame()
	if f.Leader != "n1" || f.Term != 3 || len(f.Nodes) != 2 || !f.Nodes[1].Reachable || f.Nodes[1].Status["role"] != "follower" {
		t.Fatalf("frame: leader %q term %d nodes %+v", f.Leader, f.Term, f.Nodes)
	}
	if r := f.Nodes[0].SentPerSec["MsgApp"]; r < 100 || r > 1000 {
		t.Errorf("MsgApp rate %v, want 100 messages over ~0.1s", r)
	}
	if len(f.Series) != 1 || f.Series[0].Ops <= 0 || f.Load != "server" {
		t.Errorf("series %+v load %q", f.Series, f.Load)
	}
	remote.Close()
	l.sampleOnce(ctx)
	f, _ = l.Frame()
	if f.Nodes[1].Reachable || f.Nodes[1].Error == "" {
		t.Errorf("n2 after its server closed: %+v", f.Nodes[1])
	}
	kinds := map[string]int{}
	for _, e := range f.Events {
		kinds[e.Kind]++
	}
	if kinds["leader"] != 1 || kinds["down"] != 1 {
		t.Errorf("events %+v", f.Events)
	}
	l.Load(time.Now(), 1000, 1.5, 4)
	l.sampleOnce(ctx)
	if f, _ = l.Frame(); f.Load != "client" || f.Series[len(f.Series)-1].P99 != 4 {
		t.Errorf("client load: %q %+v", f.Load, f.Series)
	}
}

func TestParsePeerURLs(t *testing.T) {
	got, err := ParsePeerURLs("n2=http://127.0.0.1:8002, n3=http://127.0.0.1:8003/")
	if err != nil || len(got) != 2 || got[1] != [2]string{"n3", "http://127.0.0.1:8003"} {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"n2", "n2=127.0.0.1:8002", "n2=http://h:1/x", "n2=http://h:1,n2=http://h:2", "=http://h:1"} {
		if _, err := ParsePeerURLs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestQuantileDelta(t *testing.T) {
	old := []Bucket{{0.001, 10}, {0.01, 20}, {0.1, 20}}
	cur := []Bucket{{0.001, 10}, {0.01, 118}, {0.1, 120}}
	if q := quantileDelta(cur, old, 0.5); q != 0.01 {
		t.Errorf("p50 %v", q)
	}
	if q := quantileDelta(cur, old, 0.99); q != 0.1 {
		t.Errorf("p99 %v", q)
	}
	if q := quantileDelta(old, old, 0.5); q != 0 {
		t.Errorf("no new observations: %v", q)
	}
}

// TestRecordSimMatchesRun: recording a seed does not change its run
// (same trace hash and event count as a run without an observer), every
// event is a step, and every message a step delivers was sent before.
func TestRecordSimMatchesRun(t *testing.T) {
	for _, seed := range []uint64{3, 7} {
		rec, res, err := RecordSim(seed, sim.Options{})
		if err != nil {
			t.Fatal(err)
		}
		plain := sim.Run(seed, sim.Options{})
		if res.TraceHash != plain.TraceHash || res.Stats.Events != plain.Stats.Events || uint64(len(rec.Steps)) != plain.Stats.Events {
			t.Fatalf("seed %d: recorded run hash %x, %d events, %d steps; plain run %x, %d events",
				seed, res.TraceHash, res.Stats.Events, len(rec.Steps), plain.TraceHash, plain.Stats.Events)
		}
		sent := map[uint64]int64{}
		for i, st := range rec.Steps {
			if st.No != uint64(i+1) {
				t.Fatalf("seed %d: step %d numbered %d", seed, i, st.No)
			}
			for _, m := range st.Sent {
				if m.DeliverAtUs < st.AtUs {
					t.Errorf("seed %d: message %d delivered at %d before it was sent at %d", seed, m.ID, m.DeliverAtUs, st.AtUs)
				}
				sent[m.ID] = m.DeliverAtUs
			}
			if st.Msg != nil {
				at, ok := sent[st.Msg.ID]
				if !ok || at != st.AtUs {
					t.Errorf("seed %d step %d: delivers message %d (sent: %v, due %d, now %d)", seed, st.No, st.Msg.ID, ok, at, st.AtUs)
				}
			}
		}
		if rec.Steps[0].Nodes == nil {
			t.Errorf("seed %d: first step carries no node states", seed)
		}
	}
}

// TestStreamOutlivesWriteTimeout: a server with a short write timeout
// (as a hardened serve has) does not cut the live stream.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	l, err := NewLive(LiveConfig{Sources: []NodeSource{&fakeSource{NodeSample{Name: "n1", Reachable: true,
		Status: map[string]any{"role": "leader", "term": 1.0}}}}, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	h := New(Config{Live: l})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	defer h.Close()
	resp, err := http.Get(srv.URL + "/ui/api/live/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	buf := make([]byte, 64<<10)
	frames := 0
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("stream ended after %d frames: %v", frames, err)
		}
		frames += strings.Count(string(buf[:n]), "data: ")
	}
	if frames < 5 {
		t.Errorf("%d frames in 1.5 s at 10 samples/s", frames)
	}
}
