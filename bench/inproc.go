package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// The "inproc" target: an embedded N-node cluster (engine/embed/cluster) over
// the in-memory transport, each node with a real WAL in TargetConfig.Dir.
// Writes and cas go through Propose (one client session each, so a retry
// after a leader change applies once); reads are linearizable ReadIndex
// reads. It takes no options.
func init() { Register("inproc", openInproc) }

type inprocTarget struct {
	c     *cluster.Cluster
	fsync bool
}

func openInproc(ctx context.Context, cfg TargetConfig) (Target, error) {
	if len(cfg.Options) > 0 {
		keys := make([]string, 0, len(cfg.Options))
		for k := range cfg.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("inproc target takes no options, got %v", keys)
	}
	c, err := cluster.StartInProc(ctx, cluster.Config{
		Nodes:      cfg.Nodes,
		Dir:        cfg.Dir,
		Fsync:      cfg.Fsync,
		Registerer: cfg.Registerer,
		Logger:     cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &inprocTarget{c: c, fsync: cfg.Fsync}, nil
}

func (t *inprocTarget) Name() string { return "inproc" }

func (t *inprocTarget) Do(ctx context.Context, req Request) (kv.Result, error) {
	var res []byte
	var err error
	switch req.Op {
	case kv.OpRead:
		res, err = t.c.Read(ctx, kv.EncodeRead(req.Key))
	case kv.OpWrite:
		res, err = t.c.Propose(ctx, kv.EncodeWrite(req.Key, req.Value))
	case kv.OpCas:
		res, err = t.c.Propose(ctx, kv.EncodeCas(req.Key, req.From, req.Value, false))
	default:
		return kv.Result{}, fmt.Errorf("inproc: unknown op %v", req.Op)
	}
	if err != nil {
		return kv.Result{}, nodeError(err)
	}
	return kv.DecodeResult(res)
}

// nodeError tags a node error with the driver's kinds: definite
// failures did not happen; anything else may have.
func nodeError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	case node.Definite(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", ErrIndeterminate, err)
}

func (t *inprocTarget) Stats() TargetStats {
	s := t.c.Stats()
	return TargetStats{
		Fsyncs:        s.Fsyncs,
		FsyncEntries:  s.FsyncEntries,
		AppendMsgs:    s.AppendMsgs,
		AppendEntries: s.AppendEntries,
		LeaderChanges: s.LeaderChanges,
	}
}

func (t *inprocTarget) Close() error { return t.c.Stop() }

// Contract: quorum fsync (when on), leader answers after apply, ReadIndex reads.
func (t *inprocTarget) Contract() Contract {
	return RaftContract(t.fsync, ReadsReadIndex, "ReadIndex: one heartbeat-quorum round per loop turn for every queued read, answered once applied >= the read index")
}
