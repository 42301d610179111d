package sim

import (
	"fmt"
	"strconv"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

type replyKind uint8

const (
	replyOK           replyKind = iota + 1
	replyDefiniteFail           // the node certainly did not take this attempt in
)

// clientMsg is a client request (node-bound) or a node's answer
// (client-bound); both travel through the event queue with latency.
type clientMsg struct {
	client  int
	seq     uint64
	attempt int
	isRead  bool
	cmd     []byte // kv command
	node    int    // node the request went to
	// committedAtRequest: for a read, the highest index known committed
	// when the node took the request.
	committedAtRequest uint64
	// readEvent is the event at which a read was handed to ReadIndex.
	readEvent uint64
	// answer
	kind   replyKind
	result []byte
	index  uint64
}

// clientOp is a client's one outstanding operation.
type clientOp struct {
	op         check.Op
	seq        uint64
	cmd        []byte
	attempt    int
	node       int
	indefinite bool // some attempt may have been proposed
}

// client issues operations one at a time, as a real client would: pick a
// node, retry the same (client, seq) elsewhere after a timeout or a
// definite refusal, and give up after MaxAttempts.
type client struct {
	idx     int
	seq     uint64
	cur     *clientOp
	history []check.Op
	written int
	lastOK  int // node that last answered OK, -1 if none
}

// clientStart begins c's next operation.
func (s *Sim) clientStart(c *client) {
	if c.cur != nil || s.phase >= phaseDrain || !s.mayIssue() {
		return
	}
	c.seq++
	key := "k" + strconv.Itoa(s.r.Intn(s.p.Keys))
	op := &clientOp{seq: c.seq, op: check.Op{Client: c.idx, Key: key, Call: s.now * 1000}}
	switch x := s.r.Intn(1000); {
	case x < s.p.ReadPermille || (s.faultsOn() && s.unsure[key] >= s.p.MaxUnsurePerKey):
		// Past the cap of indeterminate writes a key only gets reads:
		// each indeterminate op multiplies the linearizability search.
		op.op.Kind = check.Read
		op.cmd = kv.EncodeRead([]byte(key))
	case x < s.p.ReadPermille+(1000-s.p.ReadPermille)*s.p.CasPermille/1000:
		op.op.Kind = check.Cas
		op.op.From = s.casFrom(key)
		op.op.Value = s.nextValue(c)
		op.op.CreateIfMissing = s.r.Permille(300)
		op.cmd = kv.EncodeCas([]byte(key), []byte(op.op.From), []byte(op.op.Value), op.op.CreateIfMissing)
	default:
		op.op.Kind = check.Write
		op.op.Value = s.nextValue(c)
		op.cmd = kv.EncodeWrite([]byte(key), []byte(op.op.Value))
	}
	if op.op.Kind != check.Read {
		s.lastWritten[key] = op.op.Value
		s.unsure[key]++ // until it is known to be OK or Fail
	}
	s.opsIssued++
	c.cur = op
	target := s.r.Intn(s.p.procs())
	if c.lastOK >= 0 && s.r.Permille(700) {
		target = c.lastOK // real clients stick to the node that answered
	}
	s.clientAttempt(c, target)
}

// casFrom picks an expected value: usually the last value written to key
// (so cas often succeeds), sometimes a value that is likely stale.
func (s *Sim) casFrom(key string) string {
	if v, ok := s.lastWritten[key]; ok && s.r.Permille(700) {
		return v
	}
	return "v" + strconv.Itoa(s.r.Intn(8))
}

func (s *Sim) nextValue(c *client) string {
	c.written++
	return fmt.Sprintf("%d.%d", c.idx, c.written)
}

// clientAttempt sends the current operation to node idx.
func (s *Sim) clientAttempt(c *client, idx int) {
	op := c.cur
	op.attempt++
	op.node = idx
	req := &clientMsg{client: c.idx, seq: op.seq, attempt: op.attempt, isRead: op.op.Kind == check.Read, cmd: op.cmd, node: idx}
	s.sendClient(&event{kind: evClientReq, node: idx, cl: req})
	s.push(&event{at: s.now + s.p.ClientTimeoutUs, kind: evClientTimeout, node: c.idx, cl: req})
}

// onClientReply is an answer arriving at its client.
func (s *Sim) onClientReply(c *client, rep *clientMsg) {
	op := c.cur
	if op == nil || rep.seq != op.seq {
		return // an answer to an operation the client already finished
	}
	switch rep.kind {
	case replyOK:
		s.finishOK(c, rep)
	case replyDefiniteFail:
		if rep.attempt == op.attempt {
			s.retryOrGiveUp(c)
		}
	}
}

// onClientTimeout: the attempt may or may not have been taken in.
func (s *Sim) onClientTimeout(c *client, req *clientMsg) {
	op := c.cur
	if op == nil || req.seq != op.seq || req.attempt != op.attempt {
		return
	}
	op.indefinite = true
	s.retryOrGiveUp(c)
}

func (s *Sim) retryOrGiveUp(c *client) {
	op := c.cur
	if op.attempt < s.p.MaxAttempts && s.phase < phaseDrain {
		next := (op.node + 1 + s.r.Intn(s.p.procs()-1)) % s.p.procs()
		s.clientAttempt(c, next)
		return
	}
	s.finish(c, c.cur.giveUpOutcome(), "gave up after "+strconv.Itoa(op.attempt)+" attempts")
}

// giveUpOutcome: a read never has an effect, so an unanswered read is a
// definite failure; a write is indeterminate if any attempt may have been
// proposed.
func (op *clientOp) giveUpOutcome() check.Outcome {
	if op.op.Kind == check.Read || !op.indefinite {
		return check.Fail
	}
	return check.Info
}

func (s *Sim) finishOK(c *client, rep *clientMsg) {
	op := c.cur
	r, err := kv.DecodeResult(rep.result)
	if err != nil {
		s.fail("harness", "bad result", "client %d: %v", c.idx, err)
		return
	}
	switch r.Status {
	case kv.StatusOK:
		if op.op.Kind == check.Read {
			op.op.Value = string(r.Value)
		}
	case kv.StatusNotFound:
		op.op.Missing = true
	case kv.StatusMismatch:
		op.op.Mismatch = true
	default:
		s.fail("harness", "bad result", "client %d: status %v", c.idx, r.Status)
		return
	}
	if op.op.Kind != check.Read {
		s.stats.LogOpsOK++
		if s.phase == phaseLiveness && op.op.Call >= s.healUs*1000 && !s.liveOK {
			s.liveOK = true
			s.liveAtUs = s.now
			s.push(&event{at: s.now, kind: evEnd})
		}
	}
	c.lastOK = rep.node
	s.finish(c, check.OK, "node "+strconv.Itoa(rep.node+1)+" index "+strconv.FormatUint(rep.index, 10))
}

func (s *Sim) finish(c *client, out check.Outcome, note string) {
	op := c.cur
	op.op.Outcome = out
	op.op.Return = s.now * 1000
	op.op.Note = note
	c.history = append(c.history, op.op)
	if op.op.Kind != check.Read && out != check.Info {
		s.unsure[op.op.Key]--
	}
	c.cur = nil
	switch out {
	case check.OK:
		s.stats.OpsOK++
	case check.Fail:
		s.stats.OpsFail++
	case check.Info:
		s.stats.OpsInfo++
	}
	if s.phase < phaseDrain {
		s.push(&event{at: s.now + s.r.Between(0, s.p.ThinkMaxUs), kind: evClientStart, node: c.idx})
	}
}
