package node

import "testing"

// A leader yields before its turn only when nothing but client requests
// woke it: a peer's message (an ack, an append, a vote) or a control
// request is on some write's critical path and is stepped at once.
func TestOnlyClientRequests(t *testing.T) {
	for _, c := range []struct {
		msgs, ctrl int
		want       bool
	}{
		{0, 0, true},
		{1, 0, false},
		{0, 1, false},
		{3, 2, false},
	} {
		if got := onlyClientRequests(c.msgs, c.ctrl); got != c.want {
			t.Errorf("onlyClientRequests(%d messages, %d control) = %v, want %v", c.msgs, c.ctrl, got, c.want)
		}
	}
}
