package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMemberCommandErrors: usage mistakes and requests the cluster
// refuses exit 2 with a clear message; a follower's "not the leader" makes
// the command try the next endpoint.
func TestMemberCommandErrors(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"engine: invalid membership change: node 9 is not a member","definite":true}`)
	}))
	defer refuse.Close()
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"not leader","definite":true,"leader":2}`)
	}))
	defer follower.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"remove", "9"}, "--endpoint is required"},
		{[]string{"remove", "abc", "--endpoint", refuse.URL}, `node ID "abc"`},
		{[]string{"remove", "9", "--endpoint", refuse.URL}, "refused: engine: invalid membership change: node 9 is not a member"},
		{[]string{"remove", "9", "--endpoint", follower.URL + "," + refuse.URL}, "node 9 is not a member"},
		{[]string{"demote", "9", "--endpoint", follower.URL + "," + refuse.URL}, "node 9 is not a member"},
	} {
		cmd := newMemberCmd()
		cmd.SetArgs(c.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(context.Background())
		var ee *exitError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("member %v: %v, want exit 2 with %q", c.args, err, c.want)
		}
	}
	cmd := newMemberCmd()
	cmd.SetArgs([]string{"promote", "4", "--endpoint", follower.URL})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "no endpoint is the leader") {
		t.Errorf("only followers: %v", err)
	}
}
