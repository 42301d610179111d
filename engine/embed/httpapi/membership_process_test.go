package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMembershipGrowShrinkProcesses is the 3→5→3 process test: three
// `raftbench serve` processes under a concurrent read/write/cas load;
// two more join as learners (--join), are promoted once caught up; the
// leader is removed (it steps down) and so is one more original node;
// leadership is transferred; every bad admin request is refused and
// changes nothing. The whole history must be linearizable and every
// acknowledged write readable at the end.
func TestMembershipGrowShrinkProcesses(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	procs, raft, web, urls := startMembershipProcs(t, bin, dir, "--tick", "5ms")
	urls = urls[:3]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitProcLeader(t, ctx, procs, nil)
	acked := map[string]string{}
	put := func(phase string) {
		t.Helper()
		for i := 0; i < 5; i++ {
			k, v := fmt.Sprintf("%s-%d", phase, i), phase
			err := retryDefinite(ctx, func() error {
				return leaderOfAny(ctx, procs, acked).Put(ctx, k, []byte(v), Session{})
			})
			if err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
			acked[k] = v
		}
	}
	start := time.Now()
	phase := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }
	put("start")
	load := startHistoryLoad(ctx, []*Client{procs[0].client, procs[1].client, procs[2].client}, 6)

	phase("joining")
	// Two nodes join as learners.
	var joiners []*proc
	for i := 4; i <= 5; i++ {
		name := fmt.Sprintf("n%d", i)
		p := &proc{name: name, http: web[i-1], logPath: filepath.Join(dir, name+".log"),
			client: NewClient("http://"+web[i-1], nil),
			args: []string{"serve", "--id", name, "--peers", fmt.Sprintf("%s=%s", name, raft[i-1]), "--node-id", fmt.Sprint(i),
				"--join", strings.Join(urls, ","), "--tick", "5ms",
				"--data", filepath.Join(dir, name), "--http", web[i-1], "--log-level", "warn"}}
		p.start(t, bin)
		joiners = append(joiners, p)
	}
	t.Cleanup(func() {
		for _, p := range joiners {
			p.kill()
			if t.Failed() {
				b, _ := os.ReadFile(p.logPath)
				t.Logf("--- %s log:\n%s", p.name, b)
			}
		}
	})
	all := append(slices.Clone(procs), joiners...)
	leaderOf := func(ps []*proc) *proc {
		return ps[waitProcLeader(t, ctx, ps, nil)]
	}
	waitFor(t, ctx, "both joiners to be learners", func() bool {
		m, err := leaderOf(procs).client.Members(ctx)
		return err == nil && slices.Equal(m.Learners, []uint64{4, 5})
	})

	phase("learners joined")
	// Bad requests: refused, nothing changes.
	l := leaderOf(procs)
	before, _ := l.client.Members(ctx)
	var follower *proc
	for _, p := range procs {
		if p != l {
			follower = p
		}
	}
	for name, call := range map[string]func() error{
		"remove unknown node":     func() error { _, err := l.client.RemoveMember(ctx, 99); return err },
		"promote a voter":         func() error { _, err := l.client.Promote(ctx, 1); return err },
		"unreachable address":     func() error { _, err := l.client.AddMember(ctx, 7, "127.0.0.1:1", false); return err },
		"add without an address":  func() error { _, err := l.client.AddMember(ctx, 7, "", true); return err },
		"malformed transition":    func() error { _, err := l.client.ChangeConf(ctx, ConfRequest{Transition: "sideways"}); return err },
		"transfer to a non-voter": func() error { return l.client.Transfer(ctx, 4) },
	} {
		// The learners' joining change may still be committing: a 409
		// (must wait) is not the answer under test, so wait it out.
		var ae *AdminError
		if err := retryConflict(ctx, call); !errors.As(err, &ae) || ae.Code != http.StatusBadRequest || !ae.Definite {
			t.Errorf("%s: %v, want a definite 400", name, err)
		}
	}
	if _, err := follower.client.RemoveMember(ctx, 4); err == nil {
		t.Error("a follower made a change")
	} else if _, ok := NotLeader(err); !ok {
		t.Errorf("change on a follower: %v, want 503 with the leader", err)
	}
	if after, _ := l.client.Members(ctx); !slices.Equal(after.Voters, before.Voters) || !slices.Equal(after.Learners, before.Learners) {
		t.Fatalf("bad requests changed the configuration: %v -> %v", before, after)
	}

	phase("bad requests checked")
	// Promote both once caught up.
	for _, id := range []uint64{4, 5} {
		var last error
		pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
		for {
			if _, last = leaderOf(procs).client.Promote(pctx, id); last == nil || pctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		pcancel()
		if last != nil {
			st, _ := joiners[id-4].client.Status(ctx)
			t.Fatalf("promotion of %d: %v (learner status %+v)", id, last, st)
		}
	}
	m, err := leaderOf(all).client.Members(ctx)
	if err != nil || !slices.Equal(m.Voters, []uint64{1, 2, 3, 4, 5}) || len(m.Learners) > 0 {
		t.Fatalf("after promotions: %+v %v", m, err)
	}
	procs = all
	put("grown")

	phase("promoted")
	// Remove the leader, then one more original node: back to 3.
	l = leaderOf(all)
	removed := []*proc{l}
	if err := retryConflict(ctx, func() error { _, err := l.client.RemoveMember(ctx, idOf(l)); return err }); err != nil {
		t.Fatalf("remove leader %s: %v", l.name, err)
	}
	rest := slices.DeleteFunc(slices.Clone(all), func(p *proc) bool { return p == l })
	l2 := leaderOf(rest)
	var victim *proc
	for _, p := range rest {
		if p != l2 && idOf(p) <= 3 {
			victim = p
			break
		}
	}
	if err := retryConflict(ctx, func() error { _, err := l2.client.RemoveMember(ctx, idOf(victim)); return err }); err != nil {
		t.Fatalf("remove %s: %v", victim.name, err)
	}
	removed = append(removed, victim)
	rest = slices.DeleteFunc(rest, func(p *proc) bool { return p == victim })
	m, err = l2.client.Members(ctx)
	if err != nil || len(m.Voters) != 3 || slices.Contains(m.Voters, idOf(l)) || slices.Contains(m.Voters, idOf(victim)) {
		t.Fatalf("after shrinking: %+v %v", m, err)
	}
	for _, p := range removed {
		p.kill()
	}
	procs = rest
	put("shrunk")
	phase("shrunk")
	// Transfer leadership to another voter.
	l2 = leaderOf(rest)
	var to *proc
	for _, p := range rest {
		if p != l2 {
			to = p
			break
		}
	}
	if err := retryConflict(ctx, func() error { return l2.client.Transfer(ctx, idOf(to)) }); err != nil {
		t.Fatalf("transfer %s -> %s: %v", l2.name, to.name, err)
	}
	phase("transferred")
	put("after-transfer")
	load.finish(t, 20)

	phase("history checked")
	// Every acknowledged write is readable from every remaining member.
	for _, p := range rest {
		for k, v := range acked {
			var got []byte
			err := retryDefinite(ctx, func() (err error) { got, err = p.client.Get(ctx, k); return err })
			if err != nil || string(got) != v {
				t.Fatalf("%s: acknowledged %s=%s reads %q, %v", p.name, k, v, got, err)
			}
		}
	}
}

// leaderOfAny returns a client of a live process (a follower forwards).
func leaderOfAny(ctx context.Context, procs []*proc, _ map[string]string) *Client {
	for _, p := range procs {
		if st, err := p.client.Status(ctx); err == nil && st.RoleName == "leader" {
			return p.client
		}
	}
	return procs[0].client
}

// idOf is a process's Raft ID (n<i> has ID i here).
func idOf(p *proc) uint64 {
	var id uint64
	fmt.Sscanf(p.name, "n%d", &id)
	return id
}

// retryConflict retries op while the leader answers 409: a change (or
// a new leader's first commit) is still in progress, or a transfer is.
func retryConflict(ctx context.Context, op func() error) error {
	for {
		err := op()
		var ae *AdminError
		if !errors.As(err, &ae) || ae.Code != http.StatusConflict || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startMembershipProcs is the membership tests' common start: five
// Raft and five HTTP ports, of which the first three run `raftbench
// serve` as the bootstrap voters n1..n3 (through startServeProcs, with
// extra flags); the last two are left for nodes that join. It returns
// the started processes, every port and every HTTP URL.
func startMembershipProcs(t *testing.T, bin, dir string, extra ...string) (procs []*proc, raft, web, urls []string) {
	t.Helper()
	raft, web = freePorts(t, 5), freePorts(t, 5)
	var peers []string
	for i := 0; i < 3; i++ {
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, raft[i]))
	}
	for _, w := range web {
		urls = append(urls, "http://"+w)
	}
	procs = startServeProcs(t, bin, dir, web[:3], func(string) []string {
		return append([]string{"--peers", strings.Join(peers, ",")}, extra...)
	})
	return procs, raft, web, urls
}
