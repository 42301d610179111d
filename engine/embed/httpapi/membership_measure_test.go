package httpapi

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
)

// TestMembershipMeasure is the published grow/shrink run, opt-in:
//
//	RAFTBENCH_MEMBERSHIP_OUT=results/membership go test -run TestMembershipMeasure -v -timeout 10m ./engine/embed/httpapi
//
// Three serve processes are loaded by `raftbench run --target tcp`
// (closed loop, every endpoint, timeseries per second) while a history
// load records reads, writes and cas for the linearizability check. Two
// nodes join as learners and are promoted once caught up (time to
// promote measured from the join), the leader is removed, one more
// original node is removed, and leadership is transferred twice (the
// write pause measured as the longest gap between acknowledged writes
// around it). It writes events.csv, the run's output and a summary.
func TestMembershipMeasure(t *testing.T) {
	out := os.Getenv("RAFTBENCH_MEMBERSHIP_OUT")
	if out == "" {
		t.Skip("set RAFTBENCH_MEMBERSHIP_OUT to a directory to run the membership measurement")
	}
	out, _ = filepath.Abs(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	procs, raft, web, urls := startMembershipProcs(t, bin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	waitProcLeader(t, ctx, procs, nil)

	const runFor = 40 * time.Second
	run := exec.CommandContext(ctx, bin, "run", "--target", "tcp", "--endpoints", strings.Join(urls, ","),
		"--clients", "32", "--warmup", "2s", "--duration", runFor.String(), "--quiet", "--out", filepath.Join(out, "run"))
	runLog, _ := os.Create(filepath.Join(out, "run.log"))
	defer runLog.Close()
	run.Stdout, run.Stderr = runLog, runLog
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	epoch := time.Now()
	load := startHistoryLoad(ctx, []*Client{procs[0].client, procs[1].client, procs[2].client}, 6)
	var events [][]string
	event := func(what string, detail string) {
		events = append(events, []string{strconv.FormatFloat(time.Since(epoch).Seconds(), 'f', 3, 64), what, detail})
		t.Logf("%6.2fs %s %s", time.Since(epoch).Seconds(), what, detail)
	}
	leaderOf := func(ps []*proc) *proc { return ps[waitProcLeader(t, ctx, ps, nil)] }
	time.Sleep(6 * time.Second) // steady state first

	// Grow: two learners join, are promoted once caught up.
	all := slices.Clone(procs)
	for i := 4; i <= 5; i++ {
		name := fmt.Sprintf("n%d", i)
		p := &proc{name: name, http: web[i-1], logPath: filepath.Join(dir, name+".log"), client: NewClient(urls[i-1], nil),
			args: []string{"serve", "--id", name, "--peers", fmt.Sprintf("%s=%s", name, raft[i-1]), "--node-id", fmt.Sprint(i),
				"--join", strings.Join(urls[:3], ","), "--data", filepath.Join(dir, name), "--http", web[i-1], "--log-level", "warn"}}
		joinAt := time.Now()
		event("join", name)
		p.start(t, bin)
		t.Cleanup(p.kill)
		all = append(all, p)
		waitFor(t, ctx, name+" to be a learner", func() bool {
			m, err := leaderOf(procs).client.Members(ctx)
			return err == nil && slices.Contains(m.Learners, uint64(i))
		})
		event("learner", fmt.Sprintf("%s after %.3fs", name, time.Since(joinAt).Seconds()))
		waitFor(t, ctx, "promotion of "+name, func() bool {
			_, err := leaderOf(procs).client.Promote(ctx, uint64(i))
			return err == nil
		})
		event("promoted", fmt.Sprintf("%s %.3fs after joining", name, time.Since(joinAt).Seconds()))
		time.Sleep(4 * time.Second)
	}
	// Remove the leader, then one more original node.
	l := leaderOf(all)
	event("remove-leader", l.name)
	if err := retryConflict(ctx, func() error { _, err := l.client.RemoveMember(ctx, idOf(l)); return err }); err != nil {
		t.Fatal(err)
	}
	rest := slices.DeleteFunc(slices.Clone(all), func(p *proc) bool { return p == l })
	l2 := leaderOf(rest)
	event("new-leader", l2.name)
	l.kill()
	time.Sleep(4 * time.Second)
	var victim *proc
	for _, p := range rest {
		if p != l2 && idOf(p) <= 3 {
			victim = p
			break
		}
	}
	event("remove", victim.name)
	if err := retryConflict(ctx, func() error { _, err := l2.client.RemoveMember(ctx, idOf(victim)); return err }); err != nil {
		t.Fatal(err)
	}
	victim.kill()
	rest = slices.DeleteFunc(rest, func(p *proc) bool { return p == victim })
	time.Sleep(4 * time.Second)
	// Transfers: the write pause each causes.
	var pauses []string
	for k := 0; k < 2; k++ {
		l2 = leaderOf(rest)
		var to *proc
		for _, p := range rest {
			if p != l2 {
				to = p
				break
			}
		}
		start := time.Now()
		event("transfer", l2.name+"->"+to.name)
		if err := retryConflict(ctx, func() error { return l2.client.Transfer(ctx, idOf(to)) }); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		event("transferred", fmt.Sprintf("%s in %.3fs", to.name, took.Seconds()))
		pauses = append(pauses, fmt.Sprintf("%.1f", took.Seconds()*1000))
		time.Sleep(3 * time.Second)
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("raftbench run: %v (see %s)", err, filepath.Join(out, "run.log"))
	}
	load.finish(t, 20)
	gap := longestWriteGaps(load.history, load.epoch, epoch, events)
	ef, _ := os.Create(filepath.Join(out, "events.csv"))
	w := csv.NewWriter(ef)
	_ = w.Write([]string{"t_s", "event", "detail"})
	_ = w.WriteAll(events)
	ef.Close()
	summary := fmt.Sprintf("transfer completion (ms): %s\nlongest gap between acknowledged writes around each transfer (ms): %s\nhistory: %d operations, linearizable\n",
		strings.Join(pauses, ", "), gap, len(load.history))
	if err := os.WriteFile(filepath.Join(out, "measure.txt"), []byte(summary), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(summary)
}

// longestWriteGaps reports, for each transfer event, the longest gap
// between consecutive acknowledged writes (history load) in the 2 s
// around it.
func longestWriteGaps(h []check.Op, loadEpoch, epoch time.Time, events [][]string) string {
	var acks []float64
	shift := loadEpoch.Sub(epoch).Seconds()
	for _, op := range h {
		if op.Outcome == check.OK && op.Kind != check.Read {
			acks = append(acks, time.Duration(op.Return).Seconds()+shift)
		}
	}
	slices.Sort(acks)
	var out []string
	for _, e := range events {
		if e[1] != "transfer" {
			continue
		}
		at, _ := strconv.ParseFloat(e[0], 64)
		worst := 0.0
		for i := 1; i < len(acks); i++ {
			if acks[i] >= at-1 && acks[i-1] <= at+1 {
				worst = max(worst, acks[i]-acks[i-1])
			}
		}
		out = append(out, fmt.Sprintf("%.1f", worst*1000))
	}
	return strings.Join(out, ", ")
}
