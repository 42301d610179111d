//go:build raftbugs

package ui_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/raftbench/raftbench/chaos/sim"
	"github.com/raftbench/raftbench/ui"
)

// TestReplayHighlightsFailure records a seed that a known bug breaks:
// the failing invariant sits on the run's last step, at the event the
// simulator names, and the browser shows it there with the node states.
func TestReplayHighlightsFailure(t *testing.T) {
	var opts sim.Options
	if !sim.BugByName("ack-before-persist", &opts) {
		t.Fatal("bug ack-before-persist unknown")
	}
	// The first failing seed: which one fails moves whenever the
	// simulator draws something new, and the bug table requires it to be
	// caught within a few seeds.
	var (
		seed uint64
		rec  *ui.Recording
		res  sim.Result
		err  error
	)
	for seed = 1; seed <= 50; seed++ {
		if rec, res, err = ui.RecordSim(seed, opts); err != nil {
			t.Fatal(err)
		}
		if res.Failure != nil {
			break
		}
	}
	if res.Failure == nil {
		t.Fatal("no seed in 1..50 fails with ack-before-persist")
	}
	last := rec.Steps[len(rec.Steps)-1]
	if last.Failure == nil || last.No != res.Failure.Event || uint64(len(rec.Steps)) != res.Stats.Events || rec.Report.Passed {
		t.Fatalf("failure not on the last step: last step %d (failure %v), simulator: event %d of %d", last.No, last.Failure, res.Failure.Event, res.Stats.Events)
	}
	if !strings.Contains(last.Text, "FAILURE: "+res.Failure.Invariant) {
		t.Errorf("last step's text %q does not name the invariant %q", last.Text, res.Failure.Invariant)
	}

	ctx := browser(t)
	replays := ui.NewReplays()
	replays.Add(rec)
	srv, err := ui.Listen("127.0.0.1:0", ui.New(ui.Config{Replays: replays}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"sim?seed="+strconv.FormatUint(seed, 10)),
		chromedp.WaitVisible("#b-fail"), chromedp.Click("#b-fail"), chromedp.WaitVisible("#failbox"))
	if err != nil {
		t.Fatal(err)
	}
	box, err1 := chromedp.Run(ctx, chromedp.Text("#failbox"))
	at, err2 := chromedp.Run(ctx, chromedp.Text("#step-no"))
	cls, err3 := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("step-text").className`))
	rows, err4 := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#simnodes tbody tr.simnode").length`))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(box, res.Failure.Invariant) || at != strconv.FormatUint(res.Failure.Event, 10) || !strings.Contains(cls, "k-failure") || rows != len(rec.Report.Final) {
		t.Errorf("view at the failure: box %q, event %s (want %d), class %q, %d node rows", box, at, res.Failure.Event, cls, rows)
	}
	shot(t, ctx, "sim-failure")
}
