package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/cluster"
)

// TestAdminAPIInProcess covers the admin calls the process test cannot
// time: a change while another is in progress (409), removing the last
// voter (400), the joint endpoint end to end, malformed bodies (400),
// and that none of the refusals changes the configuration.
func TestAdminAPIInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cluster.StartInProc(ctx, cluster.Config{Nodes: 3, Dir: t.TempDir(), Fsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	l := c.Leader()
	h, err := NewServer(Config{Node: l})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	cl := NewClient(ts.URL, ts.Client())
	code := func(err error) int {
		var ae *AdminError
		if errors.As(err, &ae) {
			return ae.Code
		}
		return 0
	}
	// An explicit joint configuration stays until left: every other
	// change meanwhile is a 409.
	var others []uint64
	for _, id := range c.IDs() {
		if id != l.ID() {
			others = append(others, id)
		}
	}
	// A new leader takes no change before its term's first commit (409
	// meanwhile), and the cluster may have just elected it.
	var r ConfResponse
	err = retryConflict(ctx, func() (err error) {
		r, err = cl.ChangeConf(ctx, ConfRequest{Transition: "joint-explicit", Changes: []ConfStep{{Type: "remove", ID: others[0]}}})
		return err
	})
	if err != nil || !r.Joint {
		t.Fatalf("enter joint: %+v %v", r, err)
	}
	if _, err := cl.RemoveMember(ctx, others[1]); code(err) != http.StatusConflict {
		t.Fatalf("change during a joint configuration: %v, want 409", err)
	}
	m, _ := cl.Members(ctx)
	if !m.Joint || len(m.Voters) != 2 || len(m.VotersOutgoing) != 3 {
		t.Fatalf("members while joint: %+v", m)
	}
	if r, err = cl.ChangeConf(ctx, ConfRequest{Leave: true}); err != nil || r.Joint || len(r.Voters) != 2 {
		t.Fatalf("leave joint: %+v %v", r, err)
	}
	// Down to one voter, then removing it is refused.
	if _, err := cl.RemoveMember(ctx, others[1]); err != nil {
		t.Fatalf("remove to one voter: %v", err)
	}
	if _, err := cl.RemoveMember(ctx, l.ID()); code(err) != http.StatusBadRequest {
		t.Fatalf("removing the last voter: %v, want 400", err)
	}
	if m, _ := cl.Members(ctx); !slices.Equal(m.Voters, []uint64{l.ID()}) {
		t.Fatalf("refusal changed the configuration: %+v", m)
	}
	for name, body := range map[string]string{"not json": "{", "unknown field": `{"id":4,"bogus":1}`} {
		resp, err := ts.Client().Post(ts.URL+AdminPrefix+"members", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", name, resp.StatusCode)
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, ts.URL+AdminPrefix+"members/abc", nil)
	if resp, err := ts.Client().Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad node id: %v %v", resp, err)
	}
}

// TestAdminDemoteInProcess: POST /admin/members/{id}/demote on a
// follower and on the leader (it leads through the joint configuration
// and steps down once it is left; the next leader is elected), and the
// bad requests (a learner, a non-member, the last voter: 400, nothing
// changed).
func TestAdminDemoteInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cluster.StartInProc(ctx, cluster.Config{Nodes: 3, Dir: t.TempDir(), Fsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	clients := map[uint64]*Client{}
	for _, id := range c.IDs() {
		h, err := NewServer(Config{Node: c.Node(id)})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(h)
		defer ts.Close()
		clients[id] = NewClient(ts.URL, ts.Client())
	}
	code := func(err error) int {
		var ae *AdminError
		if errors.As(err, &ae) {
			return ae.Code
		}
		return 0
	}
	l := c.Leader()
	var follower uint64
	for _, id := range c.IDs() {
		if id != l.ID() {
			follower = id
		}
	}
	cl := clients[l.ID()]
	// A new leader takes changes once its term has committed an entry:
	// until then 409, which a caller retries.
	r, err := cl.Demote(ctx, follower)
	for code(err) == http.StatusConflict && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		r, err = cl.Demote(ctx, follower)
	}
	if err != nil || r.Joint || !slices.Equal(r.Learners, []uint64{follower}) || len(r.Voters) != 2 {
		t.Fatalf("demote follower %d: %+v %v", follower, r, err)
	}
	before, _ := cl.Members(ctx)
	for name, id := range map[string]uint64{"a learner": follower, "a non-member": 9} {
		if _, err := cl.Demote(ctx, id); code(err) != http.StatusBadRequest {
			t.Errorf("demote %s: %v, want 400", name, err)
		}
	}
	// The leader demotes itself: answered once the joint configuration
	// is left, then it steps down and one of the two voters leads.
	old := l.ID()
	if r, err := cl.Demote(ctx, old); err != nil || !slices.Contains(r.Learners, old) || slices.Contains(r.Voters, old) {
		t.Fatalf("demote the leader: %+v %v", r, err)
	}
	var nl uint64
	for ctx.Err() == nil {
		if ld := c.Leader(); ld != nil && ld.ID() != old {
			nl = ld.ID()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if nl == 0 || nl == follower {
		t.Fatalf("no new leader among the voters after demoting leader %d (got %d)", old, nl)
	}
	if c.Node(old).IsLeader() {
		t.Fatal("demoted leader still leads")
	}
	// Down to one voter: demoting it is refused, nothing changes.
	m, _ := clients[nl].Members(ctx)
	if !slices.Equal(m.Voters, []uint64{nl}) || len(m.Learners) != 2 {
		t.Fatalf("after demoting the leader: %+v (before: %+v)", m, before)
	}
	if _, err := clients[nl].Demote(ctx, nl); code(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "last voter") {
		t.Fatalf("demote the last voter: %v, want 400 naming the last voter", err)
	}
	if m2, _ := clients[nl].Members(ctx); !slices.Equal(m2.Voters, m.Voters) || !slices.Equal(m2.Learners, m.Learners) {
		t.Fatalf("refusal changed the configuration: %+v -> %+v", m, m2)
	}
	// Writes still commit on the one voter, and reach the learners.
	if _, err := c.Propose(ctx, []byte("after-demotions")); err != nil {
		t.Fatalf("write after the demotions: %v", err)
	}
}
