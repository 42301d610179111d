package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/raftbench/raftbench/maelstrom"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "raft-maelstrom:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := pflag.NewFlagSet("raft-maelstrom", pflag.ContinueOnError)
	var opts maelstrom.Options
	fs.StringVar(&opts.DataDir, "data-dir", "", "directory for the WAL; a restart on the same directory recovers (default: a temporary directory removed on exit)")
	logLevel := fs.String("log-level", "warn", "stderr log level: debug, info, warn or error")
	fs.DurationVar(&opts.TickInterval, "tick", 0, "Raft tick interval (default 10ms)")
	fs.DurationVar(&opts.RequestTimeout, "request-timeout", 0, "time limit for one client request (default 800ms)")
	fs.BoolVar(&opts.UnsafeNoFsync, "unsafe-no-fsync", false, "turn fsync off (benchmarks only: a crash loses acknowledged writes)")
	fs.BoolVar(&opts.LeaseReads, "lease-reads", false, "answer reads from the leader's lease, without a quorum round (safe only while clocks drift less than --max-clock-drift)")
	fs.Float64Var(&opts.MaxClockDrift, "max-clock-drift", 0, "--lease-reads: the largest relative difference between two nodes' clock rates the lease assumes (default 0.1)")
	fs.Uint64Var(&opts.SnapshotEvery, "snapshot-every", 0, "take a snapshot and compact the log every this many applied entries (default 100000)")
	snapRatio := fs.Float64("snapshot-log-ratio", 1, "also wait for this many times the last snapshot's size of new log before the next snapshot (0: by --snapshot-every alone)")
	residentRatio := fs.Float64("resident-log-ratio", 1, "keep about this many times the last snapshot's size of applied log in memory; the rest only on disk (0: the whole log since the last snapshot)")
	fs.IntVar(&opts.SnapshotChunksInFlight, "snapshot-chunks-in-flight", 0, "unacknowledged snapshot chunks per follower (default 4; chunks are sized to the line limit)")
	fs.BoolVar(&opts.UnsafeLocalReads, "unsafe-local-reads", false, "serve reads from local state without ReadIndex (NOT linearizable; for checker tests only)")
	_ = fs.MarkHidden("unsafe-local-reads")
	fs.BoolVar(&opts.UnsafeRemovedReads, "unsafe-removed-reads", false, "a node removed from the configuration answers reads from local state (NOT linearizable; for checker tests only)")
	_ = fs.MarkHidden("unsafe-removed-reads")
	fs.BoolVar(&opts.TestFaults, "test-faults", false, "accept disk and clock fault-injection lines from the chaos harness (tests only)")
	_ = fs.MarkHidden("test-faults")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opts.SnapshotLogRatio = *snapRatio
	if *snapRatio <= 0 {
		opts.SnapshotLogRatio = -1
	}
	opts.ResidentLogRatio = *residentRatio
	if *residentRatio <= 0 {
		opts.ResidentLogRatio = -1
	}
	level, err := parseLevel(*logLevel)
	if err != nil {
		return err
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// A node whose disk failed has stopped; the process exits (status 3)
	// so a supervisor sees it, rather than answering every request with
	// an error. Acknowledged data is on disk; restart to recover.
	opts.OnStorageFailure = func(err error) {
		fmt.Fprintln(os.Stderr, "raft-maelstrom: storage failure, exiting:", err)
		os.Exit(3)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A signal closes stdin, which ends the read loop; Run then stops the
	// node and removes its temporary directory.
	go func() {
		<-ctx.Done()
		os.Stdin.Close()
	}()
	return maelstrom.Run(ctx, os.Stdin, os.Stdout, opts)
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
}
