package maelstrom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// Options configure a Server. Zero values get the documented defaults.
type Options struct {
	// DataDir holds the WAL; a node restarted on the same directory
	// recovers from it. Empty means a fresh temporary directory that is
	// removed when Run returns.
	DataDir string
	// TickInterval is the Raft tick (default 10 ms); elections time out
	// after 10-20 ticks, well inside Maelstrom's 1 s client timeout.
	TickInterval time.Duration
	// RequestTimeout bounds one client request (default 800 ms), so the
	// node answers with an indefinite timeout error before Maelstrom's
	// client gives up at max(10 × mean latency, 1 s).
	RequestTimeout time.Duration
	// MaxInLineBytes bounds one input line (default 16 MiB).
	MaxInLineBytes int
	// MaxOutLineBytes bounds one output line (default 60 KiB, under the
	// 64 KiB line limit of common Maelstrom node libraries); Raft appends
	// are capped below it through the engine's MaxMsgBytes.
	MaxOutLineBytes int
	// MaxConcurrentRequests bounds client requests in progress (default
	// 4096); beyond it requests are refused with code 11.
	MaxConcurrentRequests int
	// UnsafeNoFsync turns fsync off (benchmarks only; loses data on crash).
	UnsafeNoFsync bool
	// SnapshotEvery is the applied entries between snapshots (0: the
	// node's default, 100,000). Snapshots stream to followers in chunks
	// sized to keep each line under MaxOutLineBytes, SnapshotChunksInFlight
	// (0: 4) at a time.
	SnapshotEvery          uint64
	SnapshotLogRatio       float64 // see node.Config (negative: entries alone)
	ResidentLogRatio       float64 // see node.Config (negative: the whole log in memory)
	SnapshotChunksInFlight int
	// UnsafeLocalReads serves reads from local state without ReadIndex.
	// It is deliberately NOT linearizable and exists only to prove that
	// the chaos checker catches stale reads.
	UnsafeLocalReads bool
	// UnsafeRemovedReads makes a node outside its configuration answer
	// reads from its local state instead of refusing them: deliberately
	// NOT linearizable (it no longer receives the log), it exists only to
	// prove the chaos membership nemesis and checker catch a removed node
	// that keeps serving.
	UnsafeRemovedReads bool
	// LeaseReads answers reads from the leader's lease instead of a
	// quorum round (engine.Config.LeaseReads), assuming clock rates
	// differ by at most MaxClockDrift (default 0.1) between nodes.
	LeaseReads    bool
	MaxClockDrift float64
	// TestFaults accepts fault-injection lines from the chaos harness
	// (faults.go): the WAL writes through a fault-injecting file system
	// and the node runs on an injectable clock. Tests only.
	TestFaults bool
	// OnStorageFailure, if set, is called once when the node stops
	// itself because its WAL failed (raft-maelstrom exits: a node that
	// cannot persist must not keep answering).
	OnStorageFailure func(error)
	Logger           *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.TickInterval == 0 {
		o.TickInterval = 10 * time.Millisecond
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 800 * time.Millisecond
	}
	if o.MaxInLineBytes == 0 {
		o.MaxInLineBytes = 16 << 20
	}
	if o.MaxOutLineBytes == 0 {
		o.MaxOutLineBytes = 60 << 10
	}
	if o.MaxConcurrentRequests == 0 {
		o.MaxConcurrentRequests = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return o
}

// Server is one Maelstrom lin-kv node.
type Server struct {
	opts  Options
	log   *slog.Logger
	out   *LineWriter
	slots chan struct{}
	wg    sync.WaitGroup

	// Set by init; read-only afterwards.
	self    string
	names   []string
	tr      *raftTransport
	node    *node.Node
	store   *kv.Store
	tempDir string
	limits  raftpb.Limits
	faults  *testFaults // nil unless Options.TestFaults
}

// Run serves the Maelstrom protocol on in/out until in ends or ctx is
// cancelled. Bad input never stops it; only I/O failure on out does.
func Run(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	opts = opts.withDefaults()
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		out:    NewLineWriter(out, 1<<16),
		slots:  make(chan struct{}, opts.MaxConcurrentRequests),
		limits: raftpb.DefaultLimits,
	}
	err := s.serve(ctx, NewLineReader(in, opts.MaxInLineBytes))
	s.wg.Wait()
	if s.node != nil {
		if stopErr := s.node.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
	if closeErr := s.out.Close(); closeErr != nil && err == nil {
		err = closeErr
	}
	return err
}

func (s *Server) serve(ctx context.Context, lr *LineReader) error {
	for ctx.Err() == nil {
		line, err := lr.Next()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, ErrLineTooLong):
			s.log.Error("skipping input line", "err", err)
			continue
		case err != nil && ctx.Err() != nil:
			return nil // stdin closed because we were told to stop
		case err != nil:
			return fmt.Errorf("reading stdin: %w", err)
		}
		if len(line) == 0 {
			continue
		}
		s.handleLine(line)
		if err := s.out.Err(); err != nil {
			return fmt.Errorf("writing stdout: %w", err)
		}
	}
	return ctx.Err()
}

func (s *Server) handleLine(line []byte) {
	var msg Message
	if err := json.Unmarshal(line, &msg); err != nil || msg.Src == "" || len(msg.Body) == 0 {
		s.log.Error("skipping malformed line", "err", err, "line", truncate(line, 200))
		return
	}
	var h header
	if err := json.Unmarshal(msg.Body, &h); err != nil {
		s.log.Error("skipping message with malformed body", "src", msg.Src, "err", err)
		return
	}
	switch h.Type {
	case "raft":
		s.handleRaft(msg)
	case "init":
		s.handleInit(msg, h)
	case FaultMessageType:
		if s.faults == nil {
			s.replyError(msg, h, CodeNotSupported, "fault injection is off (test-only flag)")
			return
		}
		if err := s.faults.apply(msg.Body); err != nil {
			s.log.Error("bad fault line", "err", err)
			return
		}
		s.log.Warn("fault injected", "body", truncate(msg.Body, 200))
	case MemberMessageType:
		s.handleMember(msg, h)
	case "read", "write", "cas":
		s.handleClient(msg, h)
	default:
		if h.InReplyTo != nil && h.MsgID == nil {
			return // a reply to something we never ask: ignore quietly
		}
		s.replyError(msg, h, CodeNotSupported, fmt.Sprintf("unsupported message type %q", h.Type))
	}
}

func (s *Server) handleRaft(msg Message) {
	if s.tr == nil {
		return // Raft traffic before init: peers will retry
	}
	var b raftBody
	if err := json.Unmarshal(msg.Body, &b); err != nil {
		s.log.Error("malformed raft body", "src", msg.Src, "err", err)
		return
	}
	if err := s.tr.deliver(msg.Src, b.M, s.limits); err != nil {
		s.log.Error("dropping raft message", "err", err)
	}
}

func (s *Server) handleInit(msg Message, h header) {
	var b initBody
	if err := json.Unmarshal(msg.Body, &b); err != nil || b.NodeID == "" || len(b.NodeIDs) == 0 {
		s.replyError(msg, h, CodeMalformedRequest, "init needs node_id and node_ids")
		return
	}
	if s.node != nil {
		if b.NodeID != s.self || !slices.Equal(b.NodeIDs, s.names) {
			s.replyError(msg, h, CodeMalformedRequest, "init disagrees with the earlier init")
			return
		}
		s.reply(msg, h, replyBody{Type: "init_ok"})
		return
	}
	if err := s.start(b.NodeID, b.NodeIDs); err != nil {
		s.log.Error("init failed", "err", err)
		s.replyError(msg, h, CodeCrash, "init failed: "+err.Error())
		return
	}
	s.reply(msg, h, replyBody{Type: "init_ok"})
}

func (s *Server) start(self string, names []string) error {
	idx := slices.Index(names, self)
	if idx < 0 {
		return fmt.Errorf("node_id %q not in node_ids %v", self, names)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("duplicate node id %q", n)
		}
		seen[n] = true
	}
	dir := s.opts.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "raft-maelstrom-"+self+"-")
		if err != nil {
			return err
		}
		dir, s.tempDir = tmp, tmp
	}
	voters := make([]uint64, len(names))
	for i := range names {
		voters[i] = uint64(i + 1)
	}
	s.self, s.names = self, slices.Clone(names)
	s.tr = newRaftTransport(self, s.names, s.out, s.opts.MaxOutLineBytes, s.log)
	s.store = kv.NewStore()
	ncfg := node.Config{
		ID:            uint64(idx + 1),
		Voters:        voters,
		Dir:           dir,
		UnsafeNoFsync: s.opts.UnsafeNoFsync,
		Transport:     s.tr,
		StateMachine:  s.store,
		TickInterval:  s.opts.TickInterval,
		SnapshotEvery: s.opts.SnapshotEvery, SnapshotLogRatio: s.opts.SnapshotLogRatio, ResidentLogRatio: s.opts.ResidentLogRatio,
		// A chunk's data is base64 in the line (4/3) beside a few header
		// fields: a third of the line limit leaves ample room.
		SnapshotChunkBytes:     s.opts.MaxOutLineBytes / 3,
		SnapshotChunksInFlight: s.opts.SnapshotChunksInFlight,
		Engine: engine.Config{
			// Base64 inflates by 4/3; keep a full MsgApp line well under
			// MaxOutLineBytes.
			MaxMsgBytes:   uint64(s.opts.MaxOutLineBytes) / 2,
			PreVote:       true,
			CheckQuorum:   true,
			LeaseReads:    s.opts.LeaseReads,
			MaxClockDrift: s.opts.MaxClockDrift,
		},
		Logger: s.log,
	}
	if s.opts.TestFaults {
		s.faults = newTestFaults()
		ncfg.WALOptions.FS = s.faults.disk
		ncfg.Clock = s.faults.clock
	}
	n, err := node.Start(ncfg)
	if err != nil {
		return err
	}
	s.node = n
	if s.opts.OnStorageFailure != nil {
		go func() {
			<-n.Done()
			if err := n.Err(); err != nil {
				s.log.Error("node stopped: storage failure", "err", err)
				s.opts.OnStorageFailure(err)
			}
		}()
	}
	return nil
}

func (s *Server) handleClient(msg Message, h header) {
	if h.MsgID == nil {
		s.log.Error("client request without msg_id", "src", msg.Src, "type", h.Type)
		return
	}
	if s.node == nil {
		s.replyError(msg, h, CodeTemporarilyUnavailable, "node not initialised")
		return
	}
	var b kvBody
	if err := json.Unmarshal(msg.Body, &b); err != nil {
		s.replyError(msg, h, CodeMalformedRequest, "malformed request: "+err.Error())
		return
	}
	cmd, err := buildCommand(h.Type, &b)
	if err != nil {
		s.replyError(msg, h, CodeMalformedRequest, err.Error())
		return
	}
	if err := s.removedError(); err != nil {
		if s.opts.UnsafeRemovedReads && cmd.Op == kv.OpRead {
			r, derr := kv.DecodeResult(s.store.Query(kv.AppendCommand(nil, cmd)))
			if derr == nil {
				s.replyResult(msg, h, cmd.Op, r)
				return
			}
		}
		s.replyError(msg, h, CodeTemporarilyUnavailable, err.Error())
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.replyError(msg, h, CodeTemporarilyUnavailable, "too many requests in progress")
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		s.execute(msg, h, cmd)
	}()
}

func (s *Server) execute(msg Message, h header, cmd kv.Command) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	res, err := s.attempt(ctx, msg, h, kv.AppendCommand(nil, cmd), cmd.Op)
	if err != nil {
		code, text := errorCode(err)
		s.replyError(msg, h, code, text)
		return
	}
	r, err := kv.DecodeResult(res)
	if err != nil {
		s.replyError(msg, h, CodeCrash, "undecodable state machine result")
		return
	}
	s.replyResult(msg, h, cmd.Op, r)
}

// attempt runs one request, retrying while the runtime says it certainly
// did not happen (no leader yet, leader changed under a read) and there is
// time left: a client is better served by a late answer than by a definite
// failure during an election. Retries of a write reuse its session
// sequence number, so even an unexpected duplicate applies once.
func (s *Server) attempt(ctx context.Context, msg Message, h header, cmd []byte, op kv.Op) ([]byte, error) {
	const retryPause = 10 * time.Millisecond
	for {
		var res []byte
		var err error
		switch {
		case op == kv.OpRead && s.opts.UnsafeLocalReads:
			return s.store.Query(cmd), nil
		case op == kv.OpRead:
			res, err = s.node.Read(ctx, cmd)
		default:
			res, err = s.node.ProposeSession(ctx, clientID(msg.Src), uint64(*h.MsgID), cmd)
		}
		if err == nil || !node.Definite(err) || errors.Is(err, node.ErrStopped) {
			return res, err
		}
		deadline, _ := ctx.Deadline()
		if time.Until(deadline) < s.opts.RequestTimeout/4 {
			return nil, err // answer definitely while the client still listens
		}
		select {
		case <-time.After(retryPause):
		case <-ctx.Done():
			return nil, err
		}
	}
}

func (s *Server) replyResult(msg Message, h header, op kv.Op, r kv.Result) {
	switch r.Status {
	case kv.StatusOK:
		rb := replyBody{Type: op.String() + "_ok"}
		if op == kv.OpRead {
			rb.Value = json.RawMessage(r.Value)
		}
		s.reply(msg, h, rb)
	case kv.StatusNotFound:
		s.replyError(msg, h, CodeKeyDoesNotExist, "key does not exist")
	case kv.StatusMismatch:
		s.replyError(msg, h, CodePreconditionFailed, "current value differs from 'from'")
	default:
		s.replyError(msg, h, CodeMalformedRequest, "state machine rejected the command")
	}
}

// errorCode maps a runtime error to a Maelstrom code. Definite codes only
// when the runtime says the operation certainly did not and will not
// happen; otherwise an indefinite one, so the checker allows either.
func errorCode(err error) (int, string) {
	if errors.Is(err, node.ErrBadRequest) {
		return CodeMalformedRequest, err.Error()
	}
	if node.Definite(err) {
		var nl *engine.NotLeaderError
		if errors.As(err, &nl) {
			return CodeTemporarilyUnavailable, "no leader: " + err.Error()
		}
		return CodeTemporarilyUnavailable, err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, node.ErrTimeout) {
		return CodeTimeout, "timed out; the operation may or may not have happened"
	}
	return CodeCrash, "indeterminate: " + err.Error()
}

// buildCommand validates a lin-kv body and encodes key and values as
// compact JSON text, so equal JSON values compare equal as bytes.
func buildCommand(typ string, b *kvBody) (kv.Command, error) {
	key, err := compactJSON("key", b.Key)
	if err != nil {
		return kv.Command{}, err
	}
	switch typ {
	case "read":
		return kv.Command{Op: kv.OpRead, Key: key}, nil
	case "write":
		v, err := compactJSON("value", b.Value)
		return kv.Command{Op: kv.OpWrite, Key: key, Value: v}, err
	default:
		from, err := compactJSON("from", b.From)
		if err != nil {
			return kv.Command{}, err
		}
		to, err := compactJSON("to", b.To)
		return kv.Command{Op: kv.OpCas, Key: key, From: from, Value: to, CreateIfMissing: b.CreateIfNotExists}, err
	}
}

func compactJSON(field string, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("missing field %q", field)
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("field %q: %w", field, err)
	}
	if field == "key" && buf.Len() > kv.MaxKeyBytes {
		return nil, fmt.Errorf("key of %d bytes exceeds %d", buf.Len(), kv.MaxKeyBytes)
	}
	return buf.Bytes(), nil
}

// clientID maps a Maelstrom client name to a session id; with the msg_id
// as sequence number, a duplicated request applies once.
func clientID(src string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(src))
	return h.Sum64() | 1
}

func (s *Server) reply(msg Message, h header, body replyBody) {
	if h.MsgID == nil {
		return
	}
	body.InReplyTo = *h.MsgID
	s.send(msg, body)
}

func (s *Server) replyError(msg Message, h header, code int, text string) {
	if h.MsgID == nil {
		s.log.Warn("cannot answer message without msg_id", "src", msg.Src, "type", h.Type, "code", code, "text", text)
		return
	}
	s.send(msg, errorBody{Type: "error", InReplyTo: *h.MsgID, Code: code, Text: text})
}

// send answers msg. Its src is this node's id; before init, when the
// node does not know its id yet, it is the dest the request was sent to,
// as Maelstrom requires of every reply (a src it does not know is a
// protocol violation).
func (s *Server) send(msg Message, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		s.log.Error("encoding reply", "err", err)
		return
	}
	src, dest := s.self, msg.Src
	if src == "" {
		src = msg.Dest
	}
	line := make([]byte, 0, len(b)+len(src)+len(dest)+32)
	line = append(line, `{"src":`...)
	line = strconv.AppendQuote(line, src)
	line = append(line, `,"dest":`...)
	line = strconv.AppendQuote(line, dest)
	line = append(line, `,"body":`...)
	line = append(line, b...)
	line = append(line, '}')
	s.out.Write(line, true)
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
