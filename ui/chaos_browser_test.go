package ui_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/raftbench/raftbench/chaos/harness"
	"github.com/raftbench/raftbench/ui"
)

// TestBrowserChaosRun runs a short chaos run (the toy lin-kv node, a
// partition and a kill) with the view open: the page follows the
// history while it is recorded and ends with every operation, every
// fault and the verdict the harness reached.
func TestBrowserChaosRun(t *testing.T) {
	ctx := browser(t)
	bin := filepath.Join(t.TempDir(), "toynode")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/raftbench/raftbench/chaos/internal/toynode").CombinedOutput(); err != nil {
		t.Fatalf("build toynode: %v\n%s", err, out)
	}
	view := ui.NewChaos("chaos browser test")
	srv, err := ui.Listen("127.0.0.1:0", ui.New(ui.Config{Chaos: view}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"chaos")); err != nil {
		t.Fatal(err)
	}
	cfg := harness.Config{Bin: bin, Nodes: 3, Time: 2 * time.Second, Quiet: 500 * time.Millisecond, Rate: 60, Concurrency: 6,
		Latency: 2 * time.Millisecond, Nemesis: []string{harness.NemesisPartition, harness.NemesisKill},
		NemesisInterval: 400 * time.Millisecond, Seed: 3, Out: t.TempDir(), Observer: view}
	done := make(chan struct{})
	var sum *harness.Summary
	var runErr error
	go func() { defer close(done); sum, runErr = harness.Run(context.Background(), cfg) }()
	// While the run records, the page must show operations.
	mid := "0"
	for running := true; running && mid == "0"; {
		select {
		case <-done:
			running = false
		case <-time.After(200 * time.Millisecond):
		}
		var err error
		if mid, err = chromedp.Run(ctx, chromedp.Text("#chaos-ops")); err != nil {
			t.Fatal(err)
		}
		if !running {
			mid = "0" // shown only after the end: not while recording
		}
	}
	<-done
	view.Finish(sum, runErr)
	if runErr != nil {
		t.Fatal(runErr)
	}
	if n, _ := strconv.Atoi(mid); n == 0 {
		t.Errorf("no operations shown while the run was recording")
	}
	want := sum.Ops.Attempted
	deadline := time.Now().Add(10 * time.Second)
	var ops, verdict string
	var faults int
	for time.Now().Before(deadline) {
		ops, _ = chromedp.Run(ctx, chromedp.Text("#chaos-ops"))
		verdict, _ = chromedp.Run(ctx, chromedp.Text("#verdict"))
		faults, _ = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#cnem li").length`))
		if ops == strconv.Itoa(want) && !strings.Contains(verdict, "running") && faults == len(sum.Nemesis) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("mid-run %s ops shown; at the end %s ops, %d faults, verdict %q", mid, ops, faults, verdict)
	if ops != strconv.Itoa(want) || faults != len(sum.Nemesis) || faults == 0 {
		t.Errorf("view shows %s ops and %d faults; the run attempted %d ops and applied %d faults", ops, faults, want, len(sum.Nemesis))
	}
	if sum.Linearizable != strings.HasPrefix(verdict, "linearizable") {
		t.Errorf("view's verdict %q, harness: %s", verdict, sum.Verdict)
	}
	shot(t, ctx, "chaos-run")
}
