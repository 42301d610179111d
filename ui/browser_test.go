package ui_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/chaos/sim"
	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/ui"
)

// findBrowser returns a Chromium or Chrome binary. With CI set, a missing
// browser fails the test: CI must install one (.ci/run does, with apt).
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium or chrome binary in PATH, and CI is set: the browser test must run in CI (apt-get install chromium)")
	}
	t.Skip("no chromium or chrome binary in PATH (apt-get install chromium); set CI to make this a failure")
	return ""
}

// browser starts a headless browser for the test.
func browser(t *testing.T) context.Context {
	bin := findBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	return ctx
}

// shot saves a PNG screenshot in the test's artifact directory (and in
// UI_SCREENSHOTS when set, to publish).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.ArtifactDir()}
	if d := os.Getenv("UI_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type liveState struct {
	Nodes   int      `json:"nodes"`
	Leaders []string `json:"leaders"`
	Commit  int      `json:"commit"`
}

const liveJS = `(() => {
  const cards = [...document.querySelectorAll("#nodes .node")];
  const leaders = cards.filter((c) => c.dataset.role === "leader");
  const commit = leaders.length ? Number(leaders[0].querySelector(".commit").textContent.replace(/,/g, "")) : -1;
  return { nodes: cards.length, leaders: leaders.map((c) => c.dataset.name), commit };
})()`

func waitLive(t *testing.T, ctx context.Context, what string, ok func(liveState) bool) liveState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var st liveState
	for time.Now().Before(deadline) {
		var err error
		if st, err = chromedp.Run(ctx, chromedp.Evaluate[liveState](liveJS)); err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		if ok(st) {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not seen within 10s; last DOM state %+v", what, st)
	return st
}

// TestBrowserLiveAndReplay drives the real view in a headless browser:
// a 3-node cluster under load shows three nodes, one leader and an
// advancing commit index; after the leader is killed a new leader shows
// within seconds; a simulator replay stepped to its end shows the
// simulator's event count and final node states.
func TestBrowserLiveAndReplay(t *testing.T) {
	ctx := browser(t)
	reg := prometheus.NewRegistry()
	c, err := cluster.StartInProc(context.Background(), cluster.Config{Nodes: 3, Dir: t.TempDir(), Fsync: true, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	lctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a trickle of writes so the commit index moves
		defer wg.Done()
		for i := 0; lctx.Err() == nil; i++ {
			pctx, cancel := context.WithTimeout(lctx, time.Second)
			c.Propose(pctx, kv.EncodeWrite([]byte("k"+strconv.Itoa(i%10)), []byte("v")))
			cancel()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() { stopLoad(); wg.Wait() }()

	live, stopLive, err := ui.StartLive(context.Background(), "browser test", ui.ClusterSources(c, reg))
	if err != nil {
		t.Fatal(err)
	}
	defer stopLive()
	const seed = 7
	rec, _, err := ui.RecordSim(seed, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	replays := ui.NewReplays()
	replays.Add(rec)
	srv, err := ui.Listen("127.0.0.1:0", ui.New(ui.Config{Live: live, Replays: replays}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL())); err != nil {
		t.Fatal(err)
	}
	first := waitLive(t, ctx, "three nodes, one leader", func(s liveState) bool { return s.Nodes == 3 && len(s.Leaders) == 1 && s.Commit > 0 })
	later := waitLive(t, ctx, "commit index advancing", func(s liveState) bool { return s.Nodes == 3 && len(s.Leaders) == 1 && s.Commit > first.Commit })
	t.Logf("leader %s, commit %d then %d", first.Leaders[0], first.Commit, later.Commit)
	time.Sleep(time.Second) // some chart history for the screenshot
	shot(t, ctx, "live-cluster")

	old := later.Leaders[0]
	id, _ := strconv.ParseUint(old[1:], 10, 64)
	killed := time.Now()
	live.Mark("fault", "kill "+old) // as failover --ui marks the faults it injects
	if err := c.Kill(id); err != nil {
		t.Fatal(err)
	}
	after := waitLive(t, ctx, "a new leader after killing "+old, func(s liveState) bool {
		return len(s.Leaders) == 1 && s.Leaders[0] != old
	})
	t.Logf("new leader %s shown %v after the kill", after.Leaders[0], time.Since(killed).Round(time.Millisecond))
	downRole, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('#nodes .node[data-name=%q]').dataset.role`, old)))
	if err != nil {
		t.Fatal(err)
	}
	if downRole != "down" {
		t.Errorf("killed node %s shows role %q, want down", old, downRole)
	}
	time.Sleep(time.Second)
	shot(t, ctx, "live-after-leader-kill")

	// The replay, checked against a run of the same seed without a viewer.
	want := sim.Run(seed, sim.Options{})
	if got := rec.Report.TraceHash; got != fmt.Sprintf("%016x", want.TraceHash) {
		t.Fatalf("recording changed the run: trace hash %s, plain run %016x", got, want.TraceHash)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(srv.URL()+"sim?seed="+strconv.Itoa(seed)),
		chromedp.WaitVisible("#simnodes tbody tr.simnode"),
		chromedp.Click("#b-fwd"), chromedp.Click("#b-fwd"), chromedp.Click("#b-fwd"))
	if err != nil {
		t.Fatal(err)
	}
	stepNo, err := chromedp.Run(ctx, chromedp.Text("#step-no"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(stepNo); n < 2 {
		t.Errorf("after three steps the view is at event %s", stepNo)
	}
	shot(t, ctx, "sim-replay-start")
	if err := chromedp.Do(ctx, chromedp.Click("#b-end")); err != nil {
		t.Fatal(err)
	}
	stepNo, err1 := chromedp.Run(ctx, chromedp.Text("#step-no"))
	total, err2 := chromedp.Run(ctx, chromedp.Text("#sim-events"))
	final, err3 := chromedp.Run(ctx, chromedp.Evaluate[[]sim.NodeState](`[...document.querySelectorAll("#simnodes tbody tr.simnode")].map((r) => ({
			id: Number(r.dataset.id), role: r.dataset.role, term: Number(r.dataset.term), commit: Number(r.dataset.commit),
			applied: Number(r.dataset.applied), last_index: Number(r.dataset.last)}))`))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if stepNo != strconv.FormatUint(want.Stats.Events, 10) || total != stepNo {
		t.Errorf("replay ends at event %s of %s; the simulator reports %d events", stepNo, total, want.Stats.Events)
	}
	if len(final) != len(rec.Report.Final) {
		t.Fatalf("replay shows %d nodes at the end, the simulator %d", len(final), len(rec.Report.Final))
	}
	for i, got := range final {
		w := rec.Report.Final[i]
		if got.ID != w.ID || got.Role != w.Role || got.Term != w.Term || got.Commit != w.Commit || got.Applied != w.Applied || got.LastIndex != w.LastIndex {
			t.Errorf("node %d at the end: view %+v, simulator %+v", w.ID, got, w)
		}
	}
	shot(t, ctx, "sim-replay-end")
}
