package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Maelstrom error codes used here.
const (
	codeTimeout      = 0  // indefinite: may or may not have happened
	codeNotSupported = 10 // definite
	codeUnavailable  = 11 // definite: certainly not done
	codeMalformed    = 12 // definite
	codeKeyMissing   = 20 // definite
	codeMismatch     = 22 // definite
)

// Timing and bounds shared by every design.
const (
	answerWithin   = 800 * time.Millisecond // give up on a forwarded or replicated request
	fwdHorizon     = 2 * time.Second        // the leader drops forwards older than this, unseen
	seenKeep       = 5 * time.Second        // dedup entries live at least this long (> fwdHorizon)
	maxSeen        = 50000                  // dedup entries; beyond, new forwards are dropped (never answered)
	maxPending     = 10000                  // forwarded / replicating requests awaiting an answer
	maxKeys        = 100000                 // keys held; beyond, new keys get a definite 11
	maxLine        = 1 << 20                // longer input lines are skipped
	inboxLines     = 1024                   // input lines queued between the reader and the loop
	tickEvery      = 20 * time.Millisecond
	heartbeatEvery = 100 * time.Millisecond // split-brain, local-reads: the primary's heartbeat
	leaderTimeout  = 300 * time.Millisecond // split-brain: promote, local-reads: refuse writes, after this long without the primary
	lazySaveEvery  = 500 * time.Millisecond // ack-before-fsync: background save period
)

var designs = map[string]string{
	"single":           "CORRECT without kill: one in-memory primary, others forward, dedup by request id",
	"primary":          "CORRECT, durable: like single, state fsync'd to --data-dir before any answer",
	"split-brain":      "BROKEN: a node that has not heard from n0 for 300ms serves everything locally",
	"local-reads":      "BROKEN: writes/cas committed on a majority by n0, reads served from local copies",
	"async-lww":        "BROKEN: every node applies locally, acks at once, gossips last-writer-wins",
	"ack-before-fsync": "BROKEN: like primary, but acks first and saves every 500ms in the background",
	"forgetful":        "BROKEN: like primary, but ignores --data-dir and forgets everything on restart",
}

func designList() string {
	var names []string
	for name := range designs {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "\n  %-17s %s", name, designs[name])
	}
	return b.String()
}

func main() {
	design := flag.String("design", "", "node design to run (required):"+designList())
	dataDir := flag.String("data-dir", "", "directory that survives kill+restart (used by primary and ack-before-fsync)")
	flag.Parse()
	if _, ok := designs[*design]; !ok {
		fmt.Fprintf(os.Stderr, "kvnodes: unknown --design %q; one of:%s\n", *design, designList())
		os.Exit(2)
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kvnodes: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	n := newNode(*design, *dataDir)
	if err := n.run(os.Stdin, os.Stdout); err != nil {
		logf("fatal: %v", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05.000 ")+format+"\n", args...)
}

// envelope is one Maelstrom message.
type envelope struct {
	Src  string          `json:"src"`
	Dest string          `json:"dest"`
	Body json.RawMessage `json:"body"`
}

// body is every message body this binary reads or writes: Maelstrom's
// fields and the node-to-node ones.
type body struct {
	Type      string          `json:"type"`
	MsgID     *int64          `json:"msg_id,omitempty"`
	InReplyTo *int64          `json:"in_reply_to,omitempty"`
	Key       json.RawMessage `json:"key,omitempty"`
	Value     json.RawMessage `json:"value,omitempty"`
	From      json.RawMessage `json:"from,omitempty"`
	To        json.RawMessage `json:"to,omitempty"`
	Code      *int            `json:"code,omitempty"`
	Text      string          `json:"text,omitempty"`
	NodeID    string          `json:"node_id,omitempty"`
	NodeIDs   []string        `json:"node_ids,omitempty"`

	// Node-to-node fields.
	Fid  string          `json:"fid,omitempty"`  // forwarded request id (fwd, fwd_ok)
	Sent int64           `json:"sent,omitempty"` // fwd: forwarder's clock, unix ms
	Req  json.RawMessage `json:"req,omitempty"`  // fwd: the client's body; fwd_ok: the answer
	Ver  int64           `json:"ver,omitempty"`  // rep: version; lww: timestamp (ns)
	Rid  int64           `json:"rid,omitempty"`  // rep, rep_ok: replication id
	Node string          `json:"node,omitempty"` // lww: writer, the tie-breaker
}

// target is whom an answer goes to: a client directly, or the node that
// forwarded the request (fid set).
type target struct {
	dest  string
	msgID int64
	fid   string
}

// pend is a forwarded request awaiting the leader's answer.
type pend struct {
	client   string
	msgID    int64
	req      body // split-brain serves it itself if it promotes
	deadline time.Time
}

// rep is a local-reads write awaiting acknowledgements from a majority.
type rep struct {
	to       target
	ans      body
	acks     map[string]bool
	deadline time.Time
}

// stamp orders async-lww writes: timestamp, then writer id.
type stamp struct {
	TS   int64
	Node string
}

func (a stamp) after(b stamp) bool { return a.TS > b.TS || (a.TS == b.TS && a.Node > b.Node) }

type node struct {
	design  string
	dataDir string // "" unless the design persists

	id      string
	peers   []string // every node, self included
	leader  string   // first of node_ids
	inited  bool
	now     time.Time
	nextMsg int64
	epoch   string // makes forward ids unique across restarts
	nextFid int64
	outbox  [][]byte

	st    state // the key-value map and dedup table (persisted by some designs)
	dirty bool  // st changed since the last save

	pending map[string]pend // forwarder side

	// split-brain
	heardLeader time.Time
	lastBeat    time.Time
	promoted    bool

	// local-reads
	ver     map[string]int64
	nextRid int64
	reps    map[int64]*rep

	// async-lww
	stamps map[string]stamp
	lastTS int64

	// ack-before-fsync
	lastSave time.Time
}

func newNode(design, dataDir string) *node {
	if design != "primary" && design != "ack-before-fsync" {
		dataDir = "" // designs meant to forget ignore it
	}
	return &node{
		design: design, dataDir: dataDir,
		epoch:   fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano()),
		now:     time.Now(),
		st:      newState(),
		pending: map[string]pend{},
		ver:     map[string]int64{},
		reps:    map[int64]*rep{},
		stamps:  map[string]stamp{},
	}
}

// run is the event loop: input lines and a ticker, one goroutine owning
// all state. After each batch of events it saves (if the design saves
// before answering) and only then writes the batch's outgoing messages.
func (n *node) run(r io.Reader, w io.Writer) error {
	lines := make(chan []byte, inboxLines)
	go readLines(r, lines)
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	out := bufio.NewWriterSize(w, 1<<16)
	for {
		open := true
		select {
		case line, ok := <-lines:
			if !ok {
				open = false
				break
			}
			n.now = time.Now()
			n.handle(line)
		drain:
			for i := 0; i < 256; i++ {
				select {
				case line, ok := <-lines:
					if !ok {
						open = false
						break drain
					}
					n.now = time.Now()
					n.handle(line)
				default:
					break drain
				}
			}
		case <-ticker.C:
			n.now = time.Now()
			n.tick()
		}
		if err := n.commit(out); err != nil {
			return err
		}
		if !open {
			return nil
		}
	}
}

// readLines sends each input line (without its newline) to lines and
// closes it at EOF. Lines longer than maxLine are logged and skipped.
func readLines(r io.Reader, lines chan<- []byte) {
	defer close(lines)
	in := bufio.NewReaderSize(r, 1<<16)
	var long []byte
	tooLong := false
	for {
		chunk, err := in.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong && len(long)+len(chunk) <= maxLine {
				long = append(long, chunk...)
			} else {
				tooLong, long = true, nil
			}
			continue
		}
		if len(chunk) > 0 || len(long) > 0 {
			if tooLong || len(long)+len(chunk) > maxLine {
				logf("input line longer than %d bytes skipped", maxLine)
			} else {
				line := append(append([]byte(nil), long...), chunk...)
				if line = bytes.TrimSpace(line); len(line) > 0 {
					lines <- line
				}
			}
		}
		long, tooLong = nil, false
		if err != nil {
			if err != io.EOF {
				logf("reading stdin: %v", err)
			}
			return
		}
	}
}

// commit persists (designs that save before answering) and then writes
// everything queued for sending.
func (n *node) commit(w *bufio.Writer) error {
	if n.dirty && n.design == "primary" {
		if err := n.save(); err != nil {
			// Answers that depend on this state must not go out.
			return fmt.Errorf("save: %w", err)
		}
	}
	for _, line := range n.outbox {
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	n.outbox = n.outbox[:0]
	return w.Flush()
}

// handle processes one input line. It never panics on bad input: a line
// it cannot use is logged and skipped.
func (n *node) handle(line []byte) {
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		logf("malformed line skipped: %v", err)
		return
	}
	var b body
	if err := json.Unmarshal(env.Body, &b); err != nil || len(env.Body) == 0 {
		logf("malformed body skipped: %v: %.200s", err, line)
		return
	}
	if b.Type == "init" {
		n.init(env.Src, b)
		return
	}
	if !n.inited {
		if isClientRequest(b.Type) && b.MsgID != nil {
			// Before init this node has no id: answer from the address the
			// request was sent to.
			n.sendFrom(env.Dest, env.Src, withReply(errBody(codeUnavailable, "not initialised yet"), *b.MsgID))
		} else {
			logf("%s from %s before init skipped", b.Type, env.Src)
		}
		return
	}
	if env.Src == n.leader {
		n.heardLeader = n.now
	}
	switch b.Type {
	case "read", "write", "cas":
		n.clientRequest(env.Src, b)
	case "fwd":
		n.serveForward(env.Src, b)
	case "fwd_ok":
		n.forwardAnswered(b)
	case "hb":
		// heardLeader is already updated
	case "set":
		n.applySet(b)
	case "rep":
		n.applyRep(env.Src, b)
	case "rep_ok":
		n.repAcked(env.Src, b)
	case "lww":
		n.applyLWW(b)
	default:
		if b.MsgID != nil && b.InReplyTo == nil && !n.isPeer(env.Src) {
			n.send(env.Src, withReply(errBody(codeNotSupported, "unsupported type "+b.Type), *b.MsgID))
		} else {
			logf("%q from %s skipped", b.Type, env.Src)
		}
	}
}

func isClientRequest(t string) bool { return t == "read" || t == "write" || t == "cas" }

func (n *node) isPeer(name string) bool {
	for _, p := range n.peers {
		if p == name {
			return true
		}
	}
	return false
}

func (n *node) init(src string, b body) {
	if b.MsgID == nil || b.NodeID == "" || len(b.NodeIDs) == 0 {
		logf("malformed init skipped")
		return
	}
	if n.inited && b.NodeID != n.id {
		logf("second init as %s (am %s) skipped", b.NodeID, n.id)
		return
	}
	if !n.inited {
		n.id, n.peers, n.leader = b.NodeID, append([]string(nil), b.NodeIDs...), b.NodeIDs[0]
		if err := n.load(); err != nil {
			// Refusing to start beats starting with a made-up state.
			logf("fatal: load %s: %v", n.dataDir, err)
			os.Exit(1)
		}
		n.inited = true
		n.heardLeader = n.now
		logf("init %s of %v, design %s, data dir %q", n.id, n.peers, n.design, n.dataDir)
	}
	n.send(src, withReply(body{Type: "init_ok"}, *b.MsgID))
}

// clientRequest routes a read, write or cas by design.
func (n *node) clientRequest(src string, b body) {
	if b.MsgID == nil {
		logf("%s from %s without msg_id skipped", b.Type, src)
		return
	}
	if msg := malformed(b); msg != "" {
		n.send(src, withReply(errBody(codeMalformed, msg), *b.MsgID))
		return
	}
	to := target{dest: src, msgID: *b.MsgID}
	switch {
	case n.design == "async-lww":
		n.lwwApply(b, to)
	case n.design == "local-reads" && b.Type == "read":
		n.answer(to, n.st.apply(b)) // the broken part: a local copy may be stale
	case n.id == n.leader:
		n.leaderApply(b, to)
	case n.design == "split-brain" && n.splitBrainPromoted():
		n.leaderApply(b, to)
	case n.design == "local-reads" && n.now.Sub(n.heardLeader) > leaderTimeout:
		// Not sent, so certainly not done. (Reads, above, skip this check.)
		n.send(to.dest, withReply(errBody(codeUnavailable, "primary "+n.leader+" unreachable"), to.msgID))
	default:
		n.forward(b, to)
	}
}

// splitBrainPromoted promotes this node when it has not heard from the
// leader for leaderTimeout and demotes it when it hears again — with no
// majority involved, which is the bug. On promotion it serves the
// requests it had forwarded itself, assuming the silent leader never saw
// them.
func (n *node) splitBrainPromoted() bool {
	silent := n.now.Sub(n.heardLeader) > leaderTimeout
	switch {
	case silent && !n.promoted:
		logf("no word from %s for %v: promoting myself", n.leader, n.now.Sub(n.heardLeader))
		n.promoted = true
		for fid, p := range n.pending {
			delete(n.pending, fid)
			n.leaderApply(p.req, target{dest: p.client, msgID: p.msgID})
		}
	case !silent && n.promoted:
		logf("hearing from %s again: forwarding", n.leader)
		n.promoted = false
	}
	return n.promoted
}

func malformed(b body) string {
	switch {
	case b.Key == nil:
		return "missing key"
	case b.Type == "write" && b.Value == nil:
		return "missing value"
	case b.Type == "cas" && (b.From == nil || b.To == nil):
		return "missing from or to"
	}
	return ""
}

// leaderApply applies a request here and answers it, or, for
// local-reads, starts replicating it and answers once a majority has it.
func (n *node) leaderApply(b body, to target) {
	ans := n.st.apply(b)
	changed := ans.Type == "write_ok" || ans.Type == "cas_ok"
	if changed {
		n.dirty = true
	}
	switch {
	case n.design == "split-brain" && changed:
		n.broadcast(body{Type: "set", Key: b.Key, Value: n.st.value(b.Key)})
	case n.design == "local-reads" && changed:
		n.replicate(b.Key, ans, to)
		return
	}
	n.answer(to, ans)
}

// answer sends ans to a client or, for a forwarded request, records it
// for deduplication and sends it to the forwarder.
func (n *node) answer(to target, ans body) {
	if to.fid == "" {
		n.send(to.dest, withReply(ans, to.msgID))
		return
	}
	raw, _ := json.Marshal(ans)
	n.st.answered(to.fid, raw)
	n.dirty = true
	n.send(to.dest, body{Type: "fwd_ok", Fid: to.fid, Req: raw})
}

// forward sends a client request to the leader and remembers whom to
// answer; tick answers 0 (indefinite) if the leader stays silent.
func (n *node) forward(b body, to target) {
	if len(n.pending) >= maxPending {
		// Not sent anywhere, so certainly not done.
		n.send(to.dest, withReply(errBody(codeUnavailable, "too many requests in flight"), to.msgID))
		return
	}
	n.nextFid++
	fid := fmt.Sprintf("%s/%s/%d", n.id, n.epoch, n.nextFid)
	n.pending[fid] = pend{client: to.dest, msgID: to.msgID, req: b, deadline: n.now.Add(answerWithin)}
	raw, _ := json.Marshal(b)
	n.send(n.leader, body{Type: "fwd", Fid: fid, Sent: n.now.UnixMilli(), Req: raw})
}

// serveForward applies a forwarded request at most once, however often
// (and however late) it arrives.
func (n *node) serveForward(src string, b body) {
	if b.Fid == "" {
		logf("fwd from %s without fid skipped", src)
		return
	}
	if e, ok := n.st.lookup(b.Fid); ok {
		if e.Ans != nil { // else still replicating: the answer will follow
			n.send(src, body{Type: "fwd_ok", Fid: b.Fid, Req: e.Ans})
		}
		return
	}
	if n.now.UnixMilli()-b.Sent > fwdHorizon.Milliseconds() {
		// The forwarder gave up on it long ago (indefinitely), and it may
		// be a duplicate whose dedup entry expired: never apply it.
		logf("stale fwd %s skipped", b.Fid)
		return
	}
	if !n.leaderServes() {
		logf("fwd %s skipped: not serving", b.Fid)
		return
	}
	var req body
	if err := json.Unmarshal(b.Req, &req); err != nil || !isClientRequest(req.Type) || malformed(req) != "" {
		logf("malformed fwd %s skipped", b.Fid)
		return
	}
	if !n.st.admit(b.Fid, n.now) {
		// Dropped unanswered: the forwarder's client gets an indefinite
		// timeout. (A definite refusal could be contradicted by a
		// duplicate of this forward applied later.)
		logf("dedup table full: fwd %s dropped", b.Fid)
		return
	}
	n.dirty = true
	n.leaderApply(req, target{dest: src, fid: b.Fid})
}

// leaderServes says whether this node applies forwarded requests.
func (n *node) leaderServes() bool {
	return n.id == n.leader || n.promoted
}

func (n *node) forwardAnswered(b body) {
	p, ok := n.pending[b.Fid]
	if !ok {
		return // a duplicate, or an answer after we gave up
	}
	var ans body
	if err := json.Unmarshal(b.Req, &ans); err != nil || ans.Type == "" {
		logf("malformed fwd_ok %s skipped", b.Fid)
		return
	}
	delete(n.pending, b.Fid)
	n.send(p.client, withReply(body{Type: ans.Type, Value: ans.Value, Code: ans.Code, Text: ans.Text}, p.msgID))
}

// tick handles time: forward and replication timeouts, heartbeats,
// background saves, dedup expiry.
func (n *node) tick() {
	if !n.inited {
		return
	}
	for fid, p := range n.pending {
		if n.now.After(p.deadline) {
			delete(n.pending, fid)
			n.send(p.client, withReply(errBody(codeTimeout, "timed out waiting for "+n.leader), p.msgID))
		}
	}
	for rid, r := range n.reps {
		if n.now.After(r.deadline) {
			delete(n.reps, rid)
			// Applied here and maybe elsewhere: indefinite.
			n.answer(r.to, errBody(codeTimeout, "no majority acknowledged in time"))
		}
	}
	if (n.design == "split-brain" || n.design == "local-reads") && n.id == n.leader && n.now.Sub(n.lastBeat) >= heartbeatEvery {
		n.lastBeat = n.now
		n.broadcast(body{Type: "hb"})
	}
	if n.design == "split-brain" && n.id != n.leader {
		n.splitBrainPromoted()
	}
	if n.design == "ack-before-fsync" && n.dirty && n.now.Sub(n.lastSave) >= lazySaveEvery {
		if err := n.save(); err != nil {
			logf("fatal: save: %v", err)
			os.Exit(1)
		}
	}
	n.st.expire(n.now) // not worth a save by itself
}

// --- split-brain ---

func (n *node) applySet(b body) {
	if b.Key == nil || b.Value == nil || n.design != "split-brain" {
		logf("set skipped")
		return
	}
	n.st.set(b.Key, b.Value)
}

// --- local-reads ---

func (n *node) replicate(key json.RawMessage, ans body, to target) {
	n.nextRid++
	rid := n.nextRid
	n.ver[canon(key)] = rid
	n.broadcast(body{Type: "rep", Key: key, Value: n.st.value(key), Ver: rid, Rid: rid})
	need := len(n.peers)/2 + 1 - 1 // a majority, counting this node
	if need <= 0 {
		n.answer(to, ans)
		return
	}
	if len(n.reps) >= maxPending {
		// Applied here already; the outcome is unknown to the client.
		n.answer(to, errBody(codeTimeout, "too many writes replicating"))
		return
	}
	n.reps[rid] = &rep{to: to, ans: ans, acks: map[string]bool{}, deadline: n.now.Add(answerWithin)}
}

func (n *node) applyRep(src string, b body) {
	if b.Key == nil || b.Value == nil || n.design != "local-reads" || src != n.leader {
		logf("rep from %s skipped", src)
		return
	}
	k := canon(b.Key)
	if b.Ver > n.ver[k] && n.st.set(b.Key, b.Value) {
		n.ver[k] = b.Ver
	}
	n.send(src, body{Type: "rep_ok", Rid: b.Rid})
}

func (n *node) repAcked(src string, b body) {
	r, ok := n.reps[b.Rid]
	if !ok || !n.isPeer(src) || src == n.id {
		return
	}
	r.acks[src] = true
	if len(r.acks)+1 >= len(n.peers)/2+1 {
		delete(n.reps, b.Rid)
		n.answer(r.to, r.ans)
	}
}

// --- async-lww ---

func (n *node) lwwApply(b body, to target) {
	ans := n.st.apply(b)
	if ans.Type == "write_ok" || ans.Type == "cas_ok" {
		ts := max(n.now.UnixNano(), n.lastTS+1)
		n.lastTS = ts
		n.stamps[canon(b.Key)] = stamp{ts, n.id}
		n.broadcast(body{Type: "lww", Key: b.Key, Value: n.st.value(b.Key), Ver: ts, Node: n.id})
	}
	n.answer(to, ans)
}

func (n *node) applyLWW(b body) {
	if b.Key == nil || b.Value == nil || n.design != "async-lww" {
		logf("lww skipped")
		return
	}
	k, s := canon(b.Key), stamp{b.Ver, b.Node}
	if s.after(n.stamps[k]) && n.st.set(b.Key, b.Value) {
		n.stamps[k] = s
		n.lastTS = max(n.lastTS, s.TS)
	}
}

// --- sending ---

func errBody(code int, text string) body {
	return body{Type: "error", Code: &code, Text: text}
}

func withReply(b body, inReplyTo int64) body {
	b.InReplyTo = &inReplyTo
	return b
}

func (n *node) broadcast(b body) {
	for _, p := range n.peers {
		if p != n.id {
			n.send(p, b)
		}
	}
}

func (n *node) send(dest string, b body) { n.sendFrom(n.id, dest, b) }

// sendFrom queues one message; commit writes it.
func (n *node) sendFrom(src, dest string, b body) {
	n.nextMsg++
	id := n.nextMsg
	b.MsgID = &id
	raw, err := json.Marshal(b)
	if err == nil {
		var line []byte
		line, err = json.Marshal(envelope{Src: src, Dest: dest, Body: raw})
		if err == nil {
			n.outbox = append(n.outbox, append(line, '\n'))
			return
		}
	}
	logf("cannot encode a %s to %s: %v", b.Type, dest, err)
}
