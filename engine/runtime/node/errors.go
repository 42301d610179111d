package node

import (
	"context"
	"errors"

	"github.com/raftbench/raftbench/engine"
)

// Errors returned by Node methods. Whether an error is definite (the
// operation certainly did not and never will take effect) is answered by
// Definite; callers that retry must only retry blindly after definite
// errors, or retry with the same (client id, seq) session after others.
var (
	// ErrStopped: the node is stopped (or stopping). Definite when the
	// request never entered the node's queues; a request already in flight
	// gets ErrStopped wrapped with ErrIndeterminate.
	ErrStopped = errors.New("node: stopped")
	// ErrBusy: a bounded queue (proposals, reads, the WAL) is full. The
	// request was refused before it entered the log. Definite.
	ErrBusy = errors.New("node: busy, queue full")
	// ErrTimeout: the caller's context expired while the request was in
	// flight. Indefinite: a proposal may still commit.
	ErrTimeout = errors.New("node: timed out")
	// ErrLeaderChanged: leadership changed while a read was waiting for
	// its read index. Reads change nothing, so for reads it is definite;
	// when it wraps ErrIndeterminate (proposals) it is not.
	ErrLeaderChanged = errors.New("node: leader changed")
	// ErrProposalDropped: the proposal's log slot was committed with a
	// different entry (a new leader overwrote it), so it can never be
	// applied. Definite.
	ErrProposalDropped = errors.New("node: proposal dropped by a leader change")
	// ErrSessionExpired: a (client id, seq) request older than the
	// session's dedup window, or whose first result was evicted, reached
	// the state machine. It was not applied by this request, but an
	// earlier copy may have been: indefinite.
	ErrSessionExpired = errors.New("node: client session result no longer available")
	// ErrBadRequest: empty command, zero client id or similar misuse.
	// Definite.
	ErrBadRequest = errors.New("node: bad request")
	// ErrProposalBackpressure: the leader's uncommitted bytes exceed the
	// core's limit. Definite (never entered a log).
	ErrProposalBackpressure = engine.ErrProposalBackpressure
	// ErrIndeterminate marks an error after which the operation may or
	// may not take effect. It is always wrapped together with a more
	// specific error.
	ErrIndeterminate = errors.New("outcome unknown")
	// ErrStorage: the WAL failed; the node stopped itself.
	ErrStorage = errors.New("node: storage failure")
)

// Definite reports whether err certainly means the operation did not and
// will not take effect, so a caller may retry it as a new operation.
func Definite(err error) bool {
	if err == nil || errors.Is(err, ErrIndeterminate) {
		return false
	}
	var nl *engine.NotLeaderError
	switch {
	case errors.As(err, &nl):
		return true
	case errors.Is(err, ErrBusy), errors.Is(err, ErrStopped),
		errors.Is(err, ErrProposalBackpressure), errors.Is(err, engine.ErrTransferInProgress),
		errors.Is(err, ErrLeaderChanged), errors.Is(err, ErrProposalDropped),
		errors.Is(err, ErrBadRequest), errors.Is(err, engine.ErrEmptyProposal),
		errors.Is(err, engine.ErrConfChangeInProgress), errors.Is(err, engine.ErrBadConfChange),
		errors.Is(err, engine.ErrLearnerBehind):
		return true
	}
	return false
}

// indeterminate wraps err so that Definite(err) is false.
func indeterminate(err error) error {
	return &indefError{err: err}
}

type indefError struct{ err error }

func (e *indefError) Error() string   { return e.err.Error() + " (" + ErrIndeterminate.Error() + ")" }
func (e *indefError) Unwrap() []error { return []error{e.err, ErrIndeterminate} }

// ctxError turns a context error into ErrTimeout (indefinite), keeping
// the context's error reachable with errors.Is.
func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return indeterminate(&wrap2{ErrTimeout, err})
	}
	return indeterminate(err)
}

type wrap2 struct{ a, b error }

func (e *wrap2) Error() string   { return e.a.Error() + ": " + e.b.Error() }
func (e *wrap2) Unwrap() []error { return []error{e.a, e.b} }
