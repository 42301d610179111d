package ui_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/raftbench/raftbench/chaos/explore"
	"github.com/raftbench/raftbench/ui"
)

// TestBrowserCounterexample opens an exploration counterexample as a
// replay: stepping to the end lands on the violation, shown with the
// node states beside it.
func TestBrowserCounterexample(t *testing.T) {
	ctx := browser(t)
	cx, err := explore.ReadFile("testdata/explore-counterexample.json")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ui.RecordCounterexample(cx, "explore --replay testdata/explore-counterexample.json")
	if err != nil {
		t.Fatal(err)
	}
	replays := ui.NewReplays()
	replays.Add(rec)
	srv, err := ui.Listen("127.0.0.1:0", ui.New(ui.Config{Replays: replays}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"sim?seed=0"), chromedp.WaitVisible("#simnodes tbody tr.simnode"),
		chromedp.Click("#b-end"), chromedp.WaitVisible("#failbox"))
	if err != nil {
		t.Fatal(err)
	}
	at, err1 := chromedp.Run(ctx, chromedp.Text("#step-no"))
	box, err2 := chromedp.Run(ctx, chromedp.Text("#failbox"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	last := rec.Steps[len(rec.Steps)-1]
	if at != strconv.FormatUint(last.No, 10) || !strings.Contains(box, last.Failure.Invariant) {
		t.Errorf("at the end the page shows step %s and %q; the counterexample ends at %d with %s", at, box, last.No, last.Failure.Invariant)
	}
	// One step back: the message the last delivery carried is in flight.
	if err := chromedp.Do(ctx, chromedp.Click("#b-back")); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, "explore-counterexample")
}
