package engine

import (
	"errors"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// TestBugSwitchesGatedByBuildTag: in a normal build Config.Bugs is
// rejected (the hooks are compiled away); under -tags raftbugs a switched
// bug really changes behaviour.
func TestBugSwitchesGatedByBuildTag(t *testing.T) {
	cfg := Config{ID: 1, Voters: []uint64{1, 2, 3}, Bugs: []Bug{BugAckBeforePersist}}
	_, err := New(cfg)
	if !bugsBuild {
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("normal build accepted Bugs: err=%v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("raftbugs build rejected Bugs: %v", err)
	}
	if _, err := New(Config{ID: 1, Voters: []uint64{1}, Bugs: []Bug{bugEnd}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown bug accepted: %v", err)
	}
	c, _ := New(cfg)
	step(t, c, raftpb.Message{Type: raftpb.MsgApp, From: 2, To: 1, Term: 1,
		Entries: []raftpb.Entry{{Term: 1, Index: 1, Data: []byte("x")}}})
	rd := takeReady(c)
	if len(rd.Messages) != 1 || rd.Messages[0].Type != raftpb.MsgAppResp || len(rd.MessagesAfterPersist) != 0 {
		t.Fatalf("BugAckBeforePersist: ack not moved before persist: msgs=%v after=%v", rd.Messages, rd.MessagesAfterPersist)
	}
}

func TestBugNames(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range AllBugs() {
		if s := b.String(); seen[s] || len(s) == 0 || s[0] == 'B' {
			t.Errorf("bad or duplicate bug name %q", s)
		} else {
			seen[s] = true
		}
	}
	if len(seen) != 7 {
		t.Fatalf("want 7 bugs, got %d", len(seen))
	}
}
