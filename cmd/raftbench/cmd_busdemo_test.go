package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/transport/nats/natsserver"
)

// TestBusDemo runs the demo on its embedded broker and against an
// external one given by URL, and checks its output and summary.
func TestBusDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	sum, err := runBusDemo(ctx, &out, busDemoConfig{cluster: "demo-test", nodes: 5, requests: 25, fsync: false, timeout: 5 * time.Second, dataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if sum.Committed != 25 || sum.Failed != 0 || !sum.Embedded || !sum.AllApplied || sum.Bus.Sent == 0 || len(sum.Leaders) == 0 {
		t.Fatalf("summary %+v\n%s", sum, out.String())
	}
	for _, want := range []string{"embedded NATS server", "raftbench.demo-test.node.<id>", "commit 1/25: request-1 = value-1", "commit 25/25:",
		"summary: 25 requests, 25 committed, 0 failed", "replicas: all 5 nodes applied every commit", "bus: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// The broker goes away after request 5 and comes back: every request
	// still commits and every node applies every commit.
	out.Reset()
	sum, err = runBusDemo(ctx, &out, busDemoConfig{cluster: "demo-restart", nodes: 3, requests: 10, timeout: 10 * time.Second,
		restartAfter: 5, brokerDown: 300 * time.Millisecond, dataDir: t.TempDir()})
	if err != nil || sum.Committed != 10 || sum.BrokerRestarts != 1 || !sum.AllApplied {
		t.Fatalf("broker restart: %v %+v\n%s", err, sum, out.String())
	}
	for _, want := range []string{"broker: stopped", "broker: restarted", "commit 10/10"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	srv, err := natsserver.Start(natsserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	out.Reset()
	sum, err = runBusDemo(ctx, &out, busDemoConfig{natsURL: srv.URL(), cluster: "demo-ext", nodes: 3, requests: 5, timeout: 5 * time.Second, dataDir: t.TempDir()})
	if err != nil || sum.Embedded || sum.Committed != 5 {
		t.Fatalf("external broker: %v %+v\n%s", err, sum, out.String())
	}
}

// TestBusDemoFlags: bad flags and an unreachable broker fail clearly.
func TestBusDemoFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bus-demo", "--nodes", "0"}, "--nodes"},
		{[]string{"bus-demo", "--requests", "0"}, "--requests"},
		{[]string{"bus-demo", "--cluster", "a.b"}, "--cluster"},
		{[]string{"bus-demo", "--nats-url", "http://x"}, "--nats-url"},
		{[]string{"bus-demo", "--nats-url", "nats://127.0.0.1:1", "--restart-broker-after", "1"}, "embedded broker"},
		{[]string{"bus-demo", "--nats-url", "nats://127.0.0.1:1", "--requests", "1"}, "unreachable"},
	} {
		var out bytes.Buffer
		// Flags keep their values between Execute calls: reset them first.
		base := []string{"bus-demo", "--nodes", "3", "--requests", "1", "--cluster", "ok", "--nats-url", "", "--fsync=false", "--restart-broker-after", "0"}
		rootCmd.SetArgs(append(base, tc.args[1:]...))
		rootCmd.SetOut(&out)
		rootCmd.SetErr(&out)
		err := rootCmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}
