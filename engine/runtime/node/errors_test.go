package node

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/raftbench/raftbench/engine"
)

func TestDefinite(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrBusy, true},
		{ErrStopped, true},
		{indeterminate(ErrStopped), false},
		{&engine.NotLeaderError{Leader: 2}, true},
		{fmt.Errorf("wrapped: %w", &engine.NotLeaderError{}), true},
		{ErrProposalBackpressure, true},
		{ErrProposalDropped, true},
		{ErrLeaderChanged, true},
		{indeterminate(ErrLeaderChanged), false},
		{ctxError(context.DeadlineExceeded), false},
		{indeterminate(ErrSessionExpired), false},
		{errors.New("something else"), false},
	}
	for _, c := range cases {
		if got := Definite(c.err); got != c.want {
			t.Errorf("Definite(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if err := ctxError(context.DeadlineExceeded); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctxError lost its causes: %v", err)
	}
}
