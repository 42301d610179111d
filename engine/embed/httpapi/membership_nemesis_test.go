package httpapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMembershipNemesis is chaos for membership on a real TCP cluster,
// opt-in:
//
//	RAFTBENCH_MEMBERSHIP_NEMESIS=60s go test -run TestMembershipNemesis -v -timeout 10m ./engine/embed/httpapi
//
// Five node slots share a history load (reads, writes, cas) checked for
// linearizability at the end. Every 1-2 s the nemesis does one of: add a
// stopped slot back as a learner on a fresh data directory (replacing a
// node), promote a learner, remove a voter (never below three, the
// leader included), transfer leadership, or kill -9 a voter and restart
// it on its data directory. Bad outcomes the API reports (a change in
// progress, a learner still behind, no leader yet) are part of the run.
func TestMembershipNemesis(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("RAFTBENCH_MEMBERSHIP_NEMESIS"))
	if err != nil || d <= 0 {
		t.Skip("set RAFTBENCH_MEMBERSHIP_NEMESIS to a duration to run the membership nemesis")
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("RAFTBENCH_MEMBERSHIP_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	bin := buildBinary(t)
	dir := t.TempDir()
	procs, raft, web, urls := startMembershipProcs(t, bin, dir)
	gen := map[int]int{} // slot -> data directory generation
	for i := 4; i <= 5; i++ {
		procs = append(procs, &proc{name: fmt.Sprintf("n%d", i), http: web[i-1], client: NewClient(urls[i-1], nil),
			logPath: filepath.Join(dir, fmt.Sprintf("n%d.log", i))})
	}
	t.Cleanup(func() {
		for _, p := range procs[3:] {
			p.kill()
		}
	})
	running := map[int]bool{0: true, 1: true, 2: true}
	ctx, cancel := context.WithTimeout(context.Background(), d+3*time.Minute)
	defer cancel()
	waitProcLeader(t, ctx, procs[:3], nil)
	clients := make([]*Client, 5)
	for i, p := range procs {
		clients[i] = p.client
	}
	load := startHistoryLoad(ctx, clients, 10)
	leader := func() (*proc, *Members) {
		for i, p := range procs {
			if !running[i] {
				continue
			}
			cctx, cc := context.WithTimeout(ctx, time.Second)
			m, err := p.client.Members(cctx)
			cc()
			if err == nil && m.Leader == m.ID {
				return p, &m
			}
		}
		return nil, nil
	}
	counts := map[string]int{}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(1000+rng.IntN(1000)) * time.Millisecond)
		l, m := leader()
		if l == nil {
			counts["no leader"]++
			continue
		}
		cctx, cc := context.WithTimeout(ctx, 10*time.Second)
		var op string
		var err error
		switch k := rng.IntN(5); {
		case k == 0: // replace: a stopped slot joins afresh as a learner
			var free []int
			for i := range procs {
				if !running[i] && !slices.Contains(m.Voters, uint64(i+1)) && !slices.Contains(m.Learners, uint64(i+1)) {
					free = append(free, i)
				}
			}
			if len(free) == 0 {
				op = "skip (no free slot to replace)"
				break
			}
			i := free[rng.IntN(len(free))]
			gen[i]++
			p := procs[i]
			p.args = []string{"serve", "--id", p.name, "--peers", fmt.Sprintf("%s=%s", p.name, raft[i]), "--node-id", fmt.Sprint(i + 1),
				"--join", strings.Join(urls, ","), "--data", filepath.Join(dir, fmt.Sprintf("%s.%d", p.name, gen[i])),
				"--http", web[i], "--log-level", "warn"}
			p.start(t, bin)
			running[i] = true
			op = "join " + p.name
		case k == 1 && len(m.Learners) > 0:
			id := m.Learners[rng.IntN(len(m.Learners))]
			_, err = l.client.Promote(cctx, id)
			op = fmt.Sprintf("promote %d", id)
		case k == 2 && len(m.Voters) > 3:
			id := m.Voters[rng.IntN(len(m.Voters))]
			_, err = l.client.RemoveMember(cctx, id)
			op = fmt.Sprintf("remove %d", id)
			if err == nil {
				procs[id-1].kill()
				running[int(id-1)] = false
			}
		case k == 3:
			to := m.Voters[rng.IntN(len(m.Voters))]
			err = l.client.Transfer(cctx, to)
			op = fmt.Sprintf("transfer %d", to)
		case k == 4: // kill -9 a voter, restart it on its data directory
			id := m.Voters[rng.IntN(len(m.Voters))]
			p := procs[id-1]
			p.kill()
			time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
			p.start(t, bin)
			op = fmt.Sprintf("kill -9 and restart %d", id)
		default:
			op = "skip (nothing to promote or remove)"
		}
		cc()
		outcome := "ok"
		if err != nil {
			outcome = "refused"
		}
		counts[strings.Fields(op)[0]+" "+outcome]++
		t.Logf("%s: %s %v", op, outcome, err)
	}
	load.finish(t, 50)
	t.Logf("nemesis operations: %v", counts)
}
