package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/embed/cluster"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/engine/runtime/transport"
	natstr "github.com/raftbench/raftbench/engine/runtime/transport/nats"
	"github.com/raftbench/raftbench/engine/runtime/transport/nats/natsserver"
)

// The "inproc" target: an embedded N-node cluster (engine/embed/cluster), each
// node with a real WAL in TargetConfig.Dir. Writes and cas go through
// Propose (one client session each, so a retry after a leader change
// applies once); reads are linearizable ReadIndex reads.
//
// Options:
//
//	transport=mem   the in-memory network (default)
//	transport=tcp   the TCP transport on 127.0.0.1 ephemeral ports
//	transport=nats  the NATS transport (engine/runtime/transport/nats) through an
//	                embedded broker on 127.0.0.1, or the one at nats-url
//	nats-url=URL    an existing broker (transport=nats only)
//	lease-reads=true  reads from the leader's lease instead of ReadIndex
//	                rounds (engine.Config.LeaseReads; all nodes share one
//	                clock here, so the drift bound holds)
//	batches-in-flight=N  node.Config.ProposalBatchesInFlight (uncommitted
//	                proposal batches before new proposals wait for a
//	                commit; default and -1: never wait)
//	wal-segment-bytes=N  wal.Options.SegmentBytes of every node (default
//	                wal.DefaultSegmentBytes), for A/B runs of that default
//	snapshot-write-rate=N  wal.Options.SnapshotWriteRate of every node:
//	                snapshot files written at most N bytes per second
//	                (default 0: unpaced)
//	snapshot-log-ratio=R  node.Config.SnapshotLogRatio of every node: a
//	                snapshot waits for R times the last one's size of new
//	                log (default node.DefaultSnapshotLogRatio; 0: by entry
//	                count alone), for A/B runs of that default
//	resident-log-ratio=R  node.Config.ResidentLogRatio of every node: the
//	                applied log kept in memory, in times the last
//	                snapshot's size (default node.DefaultResidentLogRatio;
//	                0: the whole log since the last snapshot)
//	wal-commit-delay=D  wal.Options.MaxCommitDelay of every node (default
//	                wal.DefaultMaxCommitDelay; a negative duration turns the
//	                linger off), for A/B runs of that default
//	wal-commit-delay-fsync-share=F  wal.Options.MaxCommitDelayFsyncShare
//	                of every node: a linger may last up to F times the
//	                log's recent fsync time when that is longer than the
//	                commit delay (default
//	                wal.DefaultMaxCommitDelayFsyncShare; 0: the commit
//	                delay alone), for A/B runs of that default
//	wal-min-sync-interval=D  wal.Options.MinSyncInterval of every node:
//	                a group commit starts no sooner than D after the
//	                previous one (default 0: as soon as writes are
//	                queued), for A/B runs on disks with a flush budget
//	wal-offload-lone=true  wal.Options.OffloadLoneFsyncs of every node:
//	                fsyncs go through the io_uring even when writes come
//	                one at a time (default false; by default the nodes'
//	                WALs, several in one process, use it for every fsync
//	                but those of writes one at a time), for A/B runs of
//	                that default
//	wal-offload-leader=true  wal.Options.OffloadLeaderFsyncs of every
//	                node: the leader's fsyncs go through the io_uring
//	                even when its writes come one at a time (default
//	                false), for A/B runs
//	wal-blocking-fsync=true  wal.Options.BlockingFsync of every node:
//	                every fsync a plain blocking syscall, never through
//	                the io_uring (default false: the nodes' WALs, several
//	                in one process, use it for every fsync but those of
//	                writes one at a time), for A/B runs of that default
//	wal-recycle-segments=N  wal.Options.RecycleSegments of every node:
//	                how many compacted segment files each log keeps to
//	                reuse as new segments instead of writing zeros
//	                (default wal.DefaultRecycleSegments; 0 or negative:
//	                none), for A/B runs of that default
//	wal-preallocate=false  wal.Options.AppendSegments of every node:
//	                segments appended, each commit fsynced, instead of
//	                written into files of zeros prepared ahead with
//	                fdatasync (default true), for A/B runs of that default
//	kv-huge-pages=true  kv.Options.HugePages of every node's store: its
//	                full-size slabs and large index arrays ask for
//	                transparent huge pages (default false), for A/B runs
//	                of that default
//	settle-blind=false  the KV store reports no command as blind
//	                (driver.BlindResulter), so every write is answered
//	                after its apply, not at its batch's start: for A/B
//	                runs of that default
//	yield-to-clients=false  node.Config.NoYieldToClients: a leader
//	                woken by client requests alone takes its turn at once
//	                instead of first letting the clients already runnable
//	                queue theirs; for A/B runs of that default
//	follower-apply-yield=false  node.Config.NoFollowerApplyYield: an
//	                apply goroutine with nobody to answer (a follower's)
//	                applies at once instead of first yielding its P to
//	                the goroutines already runnable; for A/B runs of that
//	                default
//	follower-apply-after-linger=false  node.Config.NoFollowerApplyAfterLinger:
//	                an apply goroutine with nobody to answer applies
//	                without first waiting for its log to end a linger;
//	                for A/B runs of that default
//	lazy-commit=false  node.Config.DisableLazyCommit: the leader sends
//	                each follower every new commit index in a message of
//	                its own; for A/B runs of that default
//	model-fsync=D   every fsync of every node's WAL replaced by a wait of
//	                D that never stalls (modeldisk.go): nothing is durable
//	                (the contract says so); with --data-dir on a tmpfs no
//	                disk is touched. Separates the system's own tail from
//	                the disk's; fsync on only
//	critical-path=FILE  record when each log index reaches each stage on
//	                each node (node.Probe) and write the attribution of one
//	                write's latency to its hops to FILE.md and FILE.json
//	                when the target closes (critpath.go); with reads in
//	                the mix, each ReadIndex round's hops too (node.ReadProbe)
//	critical-path-after=D  start recording D after the cluster started
//	                (default 2s: past the warm-up); 100,000 indexes are kept
//	critical-path-floor=N  also measure the every-replica disk floor with N
//	                writers for 2 s after the cluster stopped (pass the
//	                client count; fsync on only)
//	log=FILE        the nodes' log (info level: elections, snapshots saved
//	                with their size and duration, installs) as text lines
//	                to FILE, for runs whose node events matter
func init() { Register("inproc", openInproc) }

// Transports the inproc target can run over.
const (
	TransportMem  = "mem"
	TransportTCP  = "tcp"
	TransportNATS = "nats"
)

type inprocTarget struct {
	c               *cluster.Cluster
	transport       string
	fsync           bool
	lease           bool
	electionTimeout time.Duration
	broker          *natsserver.Server // embedded, or nil
	critPath        *critPathOutput    // critical-path option, or nil
	logFile         *os.File           // log option, or nil
	model           *ModelDisk         // model-fsync option, or nil

	mu  sync.Mutex
	trs []transportStatser // every transport built (NATS, TCP)
}

type transportStatser interface {
	Stats() transport.Stats
}

func openInproc(ctx context.Context, cfg TargetConfig) (Target, error) {
	tr, url := TransportMem, ""
	var lease bool
	var batches, segBytes, recycleSegs int
	var snapRate int64
	var snapRatio, residentRatio float64
	var commitDelay time.Duration
	var commitDelayShare float64 // 0: the WAL's default
	var model *ModelDisk
	var offloadLone, offloadLeader, blockingFsync bool
	preallocate := true
	var minSyncInterval time.Duration
	settleBlind := true
	var kvOpts kv.Options
	yieldToClients := true
	followerApplyYield := true
	lazyCommit := true
	followerApplyAfterLinger := true
	var unknown []string
	var cp critPathOutput
	var logPath string
	cpAfter := 2 * time.Second
	// The options that take true or false, and what each sets.
	boolOptions := map[string]*bool{
		"lease-reads": &lease, "wal-offload-lone": &offloadLone, "wal-offload-leader": &offloadLeader,
		"wal-blocking-fsync": &blockingFsync, "wal-preallocate": &preallocate, "kv-huge-pages": &kvOpts.HugePages, "settle-blind": &settleBlind,
		"yield-to-clients": &yieldToClients, "follower-apply-yield": &followerApplyYield, "lazy-commit": &lazyCommit,
		"follower-apply-after-linger": &followerApplyAfterLinger,
	}
	for k, v := range cfg.Options {
		if p, ok := boolOptions[k]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("inproc target: %s=%q: want true or false", k, v)
			}
			*p = b
			continue
		}
		switch k {
		case "transport":
			tr = v
		case "nats-url":
			url = v
		case "batches-in-flight":
			b, err := strconv.Atoi(v)
			if err != nil || b == 0 {
				return nil, fmt.Errorf("inproc target: batches-in-flight=%q: want a non-zero integer (negative: never wait)", v)
			}
			batches = b
		case "wal-segment-bytes":
			b, err := strconv.Atoi(v)
			if err != nil || b < 1<<16 {
				return nil, fmt.Errorf("inproc target: wal-segment-bytes=%q: want a byte count >= 65536", v)
			}
			segBytes = b
		case "wal-recycle-segments":
			b, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("inproc target: wal-recycle-segments=%q: want a count (negative: none)", v)
			}
			if b == 0 {
				b = -1 // 0 here means none, not the WAL's default
			}
			recycleSegs = b
		case "snapshot-write-rate":
			b, err := strconv.ParseInt(v, 10, 64)
			if err != nil || b < 0 {
				return nil, fmt.Errorf("inproc target: snapshot-write-rate=%q: want bytes per second (0: unpaced)", v)
			}
			snapRate = b
		case "snapshot-log-ratio", "resident-log-ratio":
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
				return nil, fmt.Errorf("inproc target: %s=%q: want a ratio >= 0", k, v)
			}
			if r == 0 {
				r = -1 // the node's "off": snapshots by entries alone, the whole log in memory
			}
			if k == "snapshot-log-ratio" {
				snapRatio = r
			} else {
				residentRatio = r
			}
		case "wal-commit-delay":
			d, err := time.ParseDuration(v)
			if err != nil || d == 0 {
				return nil, fmt.Errorf("inproc target: wal-commit-delay=%q: want a non-zero duration (negative: no linger)", v)
			}
			commitDelay = d
		case "wal-commit-delay-fsync-share":
			f, err := parseFsyncShare("inproc target", k, v)
			if err != nil {
				return nil, err
			}
			commitDelayShare = f
			if f == 0 {
				commitDelayShare = -1 // the WAL's "none"
			}
		case ModelFsyncOption:
			m, err := NewModelDisk("inproc target", v, cfg.Fsync)
			if err != nil {
				return nil, err
			}
			model = m
		case "wal-min-sync-interval":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("inproc target: wal-min-sync-interval=%q: want a duration >= 0", v)
			}
			minSyncInterval = d
		case "critical-path":
			cp.file = v
		case "log":
			if v == "" {
				return nil, errors.New("inproc target: log=FILE: want a file name")
			}
			logPath = v
		case "critical-path-after":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("inproc target: critical-path-after=%q: want a duration >= 0", v)
			}
			cpAfter = d
		case "critical-path-floor":
			k, err := strconv.Atoi(v)
			if err != nil || k < 1 || k > MaxClients {
				return nil, fmt.Errorf("inproc target: critical-path-floor=%q: want a writer count 1..%d", v, MaxClients)
			}
			cp.floorUsers = k
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("inproc target: unknown options %v (known: transport, nats-url, lease-reads, batches-in-flight, wal-segment-bytes, snapshot-write-rate, snapshot-log-ratio, resident-log-ratio, wal-commit-delay, wal-commit-delay-fsync-share, wal-min-sync-interval, model-fsync, wal-offload-lone, wal-offload-leader, wal-blocking-fsync, wal-preallocate, wal-recycle-segments, kv-huge-pages, settle-blind, yield-to-clients, follower-apply-yield, follower-apply-after-linger, lazy-commit, critical-path, critical-path-after, critical-path-floor, log)", unknown)
	}
	if cp.file == "" && cp.floorUsers > 0 {
		return nil, errors.New("inproc target: critical-path-floor needs critical-path")
	}
	if cp.floorUsers > 0 && !cfg.Fsync {
		return nil, errors.New("inproc target: critical-path-floor needs fsync on")
	}
	if url != "" && tr != TransportNATS {
		return nil, errors.New("inproc target: nats-url needs transport=nats")
	}
	ticks, err := ElectionTicks(cfg.ElectionTimeout, node.DefaultTickInterval, engine.DefaultElectionTicks)
	if err != nil {
		return nil, fmt.Errorf("inproc target: %w", err)
	}
	t := &inprocTarget{transport: tr, lease: lease, electionTimeout: time.Duration(ticks) * node.DefaultTickInterval}
	t.model = model
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("inproc target: log: %w", err)
		}
		t.logFile = f
		cfg.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
		defer func() {
			if t.c == nil { // not started
				f.Close()
			}
		}()
	}
	ccfg := cluster.Config{
		Nodes:        cfg.Nodes,
		Dir:          cfg.Dir,
		Fsync:        cfg.Fsync,
		Registerer:   cfg.Registerer,
		Logger:       cfg.Logger,
		TickInterval: node.DefaultTickInterval,
		Engine:       engine.Config{ElectionTicks: ticks, LeaseReads: lease},
		// Zero leaves the node's default.
		SnapshotLogRatio: snapRatio,
		ResidentLogRatio: residentRatio,
	}
	switch {
	case !settleBlind:
		ccfg.NewStateMachine = func(uint64) node.StateMachine { return kvNoBlind{kv.NewStoreWith(kvOpts)} }
	case kvOpts != kv.Options{}:
		ccfg.NewStateMachine = func(uint64) node.StateMachine { return kv.NewStoreWith(kvOpts) }
	}
	if cp.file != "" {
		cp.rec = newCritPathRecorder(cpAfter)
		cp.floorDir, cp.nodes, cp.valueBytes = cfg.Dir, cfg.Nodes, cfg.ValueBytes
		t.critPath = &cp
	}
	if batches != 0 || segBytes != 0 || recycleSegs != 0 || snapRate != 0 || commitDelay != 0 || minSyncInterval != 0 || offloadLone || offloadLeader || blockingFsync || !preallocate || !yieldToClients || !followerApplyYield || !lazyCommit || cp.file != "" || model != nil {
		ccfg.NodeConfig = func(nc *node.Config) {
			nc.WALOptions.SnapshotWriteRate = snapRate
			if cp.rec != nil {
				nc.Probe = cp.rec
			}
			if batches != 0 {
				nc.ProposalBatchesInFlight = batches
			}
			if segBytes != 0 {
				nc.WALOptions.SegmentBytes = segBytes
			}
			nc.WALOptions.RecycleSegments = recycleSegs
			if commitDelay != 0 {
				nc.WALOptions.MaxCommitDelay = commitDelay
			}
			nc.WALOptions.MaxCommitDelayFsyncShare = commitDelayShare
			nc.WALOptions.OffloadLoneFsyncs = offloadLone
			nc.WALOptions.OffloadLeaderFsyncs = offloadLeader
			nc.WALOptions.BlockingFsync = blockingFsync
			nc.WALOptions.MinSyncInterval = minSyncInterval
			nc.WALOptions.AppendSegments = !preallocate
			nc.NoYieldToClients = !yieldToClients
			nc.NoFollowerApplyYield = !followerApplyYield
			nc.NoFollowerApplyAfterLinger = !followerApplyAfterLinger
			nc.DisableLazyCommit = !lazyCommit
			if t.model != nil {
				nc.WALOptions.FS = t.model
			}
		}
	}
	switch tr {
	case TransportMem:
	case TransportTCP:
		f, err := t.tcpFactory(cfg.Nodes, cfg.Logger)
		if err != nil {
			return nil, err
		}
		ccfg.Transport = f
	case TransportNATS:
		// Snapshot chunks must fit one publish (max_payload, 1 MiB by default).
		ccfg.SnapshotChunkBytes = 256 << 10
		if url == "" {
			b, err := natsserver.Start(natsserver.Options{MaxPayload: 8 << 20})
			if err != nil {
				return nil, err
			}
			t.broker, url = b, b.URL()
		}
		build := natstr.Factory(natstr.Config{URL: url, Cluster: "inproc-" + strconv.FormatUint(uint64(rand.Uint32()), 36), Logger: cfg.Logger})
		ccfg.Transport = t.record(build)
	default:
		return nil, fmt.Errorf("inproc target: transport %q: want mem, tcp or nats", tr)
	}
	c, err := cluster.StartInProc(ctx, ccfg)
	if err != nil {
		if t.broker != nil {
			t.broker.Stop()
		}
		return nil, err
	}
	t.c, t.fsync = c, cfg.Fsync
	return t, nil
}

// record wraps a transport factory to keep every transport it builds.
func (t *inprocTarget) record(build func(uint64, []uint64) (transport.Transport, error)) func(uint64, []uint64) (transport.Transport, error) {
	return func(id uint64, peers []uint64) (transport.Transport, error) {
		tr, err := build(id, peers)
		if s, ok := tr.(transportStatser); ok && err == nil {
			t.mu.Lock()
			t.trs = append(t.trs, s)
			t.mu.Unlock()
		}
		return tr, err
	}
}

// tcpFactory binds one loopback port per node now (so every node knows
// every address) and hands each node its listener; a restarted node
// listens on the same address again.
func (t *inprocTarget) tcpFactory(nodes int, logger *slog.Logger) (func(uint64, []uint64) (transport.Transport, error), error) {
	addrs := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for id := uint64(1); id <= uint64(nodes); id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("inproc target: %w", err)
		}
		lns[id], addrs[id] = ln, ln.Addr().String()
	}
	var mu sync.Mutex
	return t.record(func(id uint64, _ []uint64) (transport.Transport, error) {
		mu.Lock()
		ln := lns[id]
		delete(lns, id)
		mu.Unlock()
		return transport.NewTCP(transport.TCPConfig{ID: id, Peers: addrs, Listener: ln, Logger: logger})
	}), nil
}

// TransportStats sums the counters of every NATS or TCP transport the
// cluster has used (zero for the in-memory network).
// Cluster is the target's cluster, for views that read its nodes.
func (t *inprocTarget) Cluster() *cluster.Cluster { return t.c }

func (t *inprocTarget) TransportStats() transport.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sum transport.Stats
	for _, tr := range t.trs {
		s := tr.Stats()
		sum.Sent += s.Sent
		sum.Received += s.Received
		sum.Dropped += s.Dropped
		sum.BytesSent += s.BytesSent
		sum.BytesReceived += s.BytesReceived
		sum.Writes += s.Writes
		sum.FramesWritten += s.FramesWritten
		sum.Reconnects += s.Reconnects
	}
	return sum
}

// ElectionTimeout implements TimedTarget.
func (t *inprocTarget) ElectionTimeout() time.Duration { return t.electionTimeout }

func (t *inprocTarget) Name() string {
	if t.transport == TransportMem {
		return "inproc"
	}
	return "inproc-" + t.transport
}

func (t *inprocTarget) Do(ctx context.Context, req Request) (kv.Result, error) {
	var res []byte
	var err error
	switch req.Op {
	case kv.OpRead:
		res, err = t.c.Read(ctx, EncodeCommand(0, kv.Command{Op: kv.OpRead, Key: req.Key}))
	case kv.OpWrite:
		res, err = t.c.ProposeFramed(ctx, framedCommand(kv.Command{Op: kv.OpWrite, Key: req.Key, Value: req.Value}))
	case kv.OpCas:
		res, err = t.c.ProposeFramed(ctx, framedCommand(kv.Command{Op: kv.OpCas, Key: req.Key, From: req.From, Value: req.Value}))
	default:
		return kv.Result{}, fmt.Errorf("inproc: unknown op %v", req.Op)
	}
	if err != nil {
		return kv.Result{}, nodeError(err)
	}
	return kv.DecodeResult(res)
}

// framedCommand encodes c after the room the node's session header
// takes, so the entry is not copied again (cluster.ProposeFramed).
func framedCommand(c kv.Command) []byte { return EncodeCommand(node.ProposalHeaderLen, c) }

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
		Snapshots:     s.Snapshots, SnapshotsCounted: true,
		Log: nodeLogCycle(s),
	}
}

// nodeLogCycle is a node's (or a cluster's summed) WAL group-commit
// cycle as a target reports it.
func nodeLogCycle(s node.Stats) LogCycle {
	return LogCycle{Flushes: s.Flushes, IdleNanos: s.WALIdleNanos, LingerNanos: s.LingerNanos,
		WriteNanos: s.WALWriteNanos, FsyncNanos: s.FsyncNanos}
}

// StateBytes sums the memory of the running nodes' state machines that
// report it (the KV store's slabs and index: kv.Store.MemoryBytes).
func (t *inprocTarget) StateBytes() uint64 {
	var n uint64
	for _, id := range t.c.IDs() {
		if m, ok := t.c.StateMachine(id).(interface{ MemoryBytes() uint64 }); ok {
			n += m.MemoryBytes()
		}
	}
	return n
}

func (t *inprocTarget) Close() error {
	if t.critPath != nil {
		t.critPath.takeWALStats(t.c)
	}
	err := t.c.Stop()
	if t.broker != nil {
		t.broker.Stop()
	}
	if t.logFile != nil {
		err = errors.Join(err, t.logFile.Close())
	}
	if t.model != nil {
		t.model.Close()
	}
	if t.critPath != nil && err == nil {
		err = t.critPath.finish()
	}
	return err
}

// Contract: quorum fsync (when on), leader answers after apply, ReadIndex reads.
func (t *inprocTarget) Contract() Contract {
	c := t.raftContract()
	if t.model != nil {
		c = t.model.Contract(c)
	}
	return c
}

func (t *inprocTarget) raftContract() Contract {
	if t.lease {
		return RaftContract(t.fsync, ReadsLease, "leader lease (thesis §6.4.1): (ElectionTicks-1)/(1+MaxClockDrift) ticks from a heartbeat round a quorum answered, ReadIndex round otherwise; linearizable while clock rates differ by at most MaxClockDrift (0.1)")
	}
	return RaftContract(t.fsync, ReadsReadIndex, "ReadIndex: one heartbeat-quorum round per loop turn for every queued read, answered once applied >= the read index")
}

// kvNoBlind is the KV store with every command reported state-dependent
// (option settle-blind=false); its other methods are the store's.
type kvNoBlind struct{ *kv.Store }

func (kvNoBlind) BlindResult([]byte) ([]byte, bool) { return nil, false }
