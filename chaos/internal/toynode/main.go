package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Maelstrom error codes used here.
const (
	codeUnavailable  = 11
	codeNotSupported = 10
	codeMalformed    = 12
	codeKeyMissing   = 20
	codeMismatch     = 22
)

const maxPending = 10000 // forwarded requests awaiting an answer
const maxSeen = 20000    // remembered answers for deduplication

type envelope struct {
	Src  string          `json:"src"`
	Dest string          `json:"dest"`
	Body json.RawMessage `json:"body"`
}

type body struct {
	Type      string          `json:"type"`
	MsgID     *int64          `json:"msg_id,omitempty"`
	InReplyTo *int64          `json:"in_reply_to,omitempty"`
	Key       json.RawMessage `json:"key,omitempty"`
	Value     json.RawMessage `json:"value,omitempty"`
	From      json.RawMessage `json:"from,omitempty"`
	To        json.RawMessage `json:"to,omitempty"`
	Create    bool            `json:"create_if_not_exists,omitempty"`
	Code      int             `json:"code,omitempty"`
	Text      string          `json:"text,omitempty"`
	NodeID    string          `json:"node_id,omitempty"`
	NodeIDs   []string        `json:"node_ids,omitempty"`
	// Toy node-to-node fields.
	Fwd string          `json:"fwd,omitempty"` // unique id of a forwarded request
	Req json.RawMessage `json:"req,omitempty"` // the client's body, or the answer
}

type client struct {
	src   string
	msgID int64
}

// persisted is the --data-dir file's content.
type persisted struct {
	KV   map[string]string          `json:"kv"`
	Seen map[string]json.RawMessage `json:"seen"`
	Ord  []string                   `json:"order"`
}

type node struct {
	id, leader string
	peers      []string
	unsafe     bool
	dataDir    string
	out        *bufio.Writer
	nextID     int64
	epoch      string // distinguishes this process's forward ids from a previous one's
	pending    map[string]client
	st         persisted
}

func main() {
	unsafe := flag.Bool("unsafe", false, "serve reads locally and replicate asynchronously (NOT linearizable)")
	dataDir := flag.String("data-dir", "", "directory to persist state in")
	flag.Parse()
	n := &node{
		unsafe: *unsafe, dataDir: *dataDir, out: bufio.NewWriter(os.Stdout),
		epoch:   fmt.Sprint(time.Now().UnixNano()),
		pending: map[string]client{},
		st:      persisted{KV: map[string]string{}, Seen: map[string]json.RawMessage{}},
	}
	if err := n.run(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "toynode:", err)
		os.Exit(1)
	}
}

func (n *node) run(r io.Reader) error {
	in := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			n.handle(line)
			if in.Buffered() == 0 {
				if ferr := n.out.Flush(); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return n.out.Flush()
		}
		if err != nil {
			return err
		}
	}
}

func (n *node) handle(line []byte) {
	var env envelope
	var b body
	if err := json.Unmarshal(line, &env); err != nil {
		fmt.Fprintf(os.Stderr, "malformed line skipped: %v\n", err)
		return
	}
	if err := json.Unmarshal(env.Body, &b); err != nil {
		fmt.Fprintf(os.Stderr, "malformed body skipped: %v\n", err)
		return
	}
	switch b.Type {
	case "init":
		n.init(env.Src, b)
	case "read", "write", "cas":
		n.clientRequest(env.Src, b)
	case "fwd":
		n.serveForward(env.Src, b)
	case "fwd_ok":
		n.forwardAnswered(b)
	case "set":
		n.st.KV[string(b.Key)] = string(b.Value)
	default:
		if b.MsgID != nil {
			n.reply(env.Src, *b.MsgID, errBody(codeNotSupported, "unknown type "+b.Type))
		}
	}
}

func (n *node) init(src string, b body) {
	if b.MsgID == nil || b.NodeID == "" || len(b.NodeIDs) == 0 {
		fmt.Fprintln(os.Stderr, "bad init skipped")
		return
	}
	n.id, n.peers, n.leader = b.NodeID, b.NodeIDs, b.NodeIDs[0]
	if err := n.load(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	n.reply(src, *b.MsgID, body{Type: "init_ok"})
}

func (n *node) clientRequest(src string, b body) {
	if b.MsgID == nil || b.Key == nil {
		if b.MsgID != nil {
			n.reply(src, *b.MsgID, errBody(codeMalformed, "missing key"))
		}
		return
	}
	if n.unsafe || n.id == n.leader {
		res := n.apply(b)
		if n.unsafe && res.Type != "error" && b.Type != "read" {
			n.broadcast(b.Key)
		}
		if err := n.save(); err != nil {
			fmt.Fprintln(os.Stderr, "save:", err)
			os.Exit(1)
		}
		n.reply(src, *b.MsgID, res)
		return
	}
	if len(n.pending) >= maxPending {
		// Not forwarded, so it certainly will not happen: a definite error.
		n.reply(src, *b.MsgID, errBody(codeUnavailable, "too many forwarded requests"))
		return
	}
	n.nextID++
	fwd := fmt.Sprintf("%s/%s/%d", n.id, n.epoch, n.nextID)
	n.pending[fwd] = client{src, *b.MsgID}
	raw, _ := json.Marshal(b)
	n.send(n.leader, body{Type: "fwd", Fwd: fwd, Req: raw})
}

// serveForward applies a forwarded request once, however often it arrives.
func (n *node) serveForward(src string, b body) {
	ans, ok := n.st.Seen[b.Fwd]
	if !ok {
		var req body
		if err := json.Unmarshal(b.Req, &req); err != nil {
			fmt.Fprintln(os.Stderr, "bad forward skipped:", err)
			return
		}
		ans, _ = json.Marshal(n.apply(req))
		n.remember(b.Fwd, ans)
		if err := n.save(); err != nil {
			fmt.Fprintln(os.Stderr, "save:", err)
			os.Exit(1)
		}
	}
	n.send(src, body{Type: "fwd_ok", Fwd: b.Fwd, Req: ans})
}

func (n *node) forwardAnswered(b body) {
	c, ok := n.pending[b.Fwd]
	if !ok {
		return // a duplicate answer
	}
	delete(n.pending, b.Fwd)
	var res body
	if err := json.Unmarshal(b.Req, &res); err != nil {
		fmt.Fprintln(os.Stderr, "bad answer skipped:", err)
		return
	}
	n.reply(c.src, c.msgID, res)
}

func (n *node) remember(fwd string, ans json.RawMessage) {
	n.st.Seen[fwd] = ans
	n.st.Ord = append(n.st.Ord, fwd)
	if len(n.st.Ord) > maxSeen {
		delete(n.st.Seen, n.st.Ord[0])
		n.st.Ord = n.st.Ord[1:]
	}
}

// apply runs one lin-kv request against the local map (engine/embed/kv's rules).
func (n *node) apply(b body) body {
	k := string(b.Key)
	v, exists := n.st.KV[k]
	switch b.Type {
	case "read":
		if !exists {
			return errBody(codeKeyMissing, "key does not exist")
		}
		return body{Type: "read_ok", Value: json.RawMessage(v)}
	case "write":
		n.st.KV[k] = string(b.Value)
		return body{Type: "write_ok"}
	case "cas":
		switch {
		case !exists && !b.Create:
			return errBody(codeKeyMissing, "key does not exist")
		case exists && v != string(b.From):
			return errBody(codeMismatch, "expected "+string(b.From)+", have "+v)
		}
		n.st.KV[k] = string(b.To)
		return body{Type: "cas_ok"}
	}
	return errBody(codeNotSupported, "unknown type "+b.Type)
}

func (n *node) broadcast(key json.RawMessage) {
	for _, p := range n.peers {
		if p != n.id {
			n.send(p, body{Type: "set", Key: key, Value: json.RawMessage(n.st.KV[string(key)])})
		}
	}
}

func errBody(code int, text string) body { return body{Type: "error", Code: code, Text: text} }

func (n *node) reply(dest string, inReplyTo int64, b body) {
	b.InReplyTo = &inReplyTo
	n.send(dest, b)
}

func (n *node) send(dest string, b body) {
	n.nextID++
	id := n.nextID
	b.MsgID = &id
	raw, _ := json.Marshal(b)
	line, _ := json.Marshal(envelope{Src: n.id, Dest: dest, Body: raw})
	n.out.Write(append(line, '\n'))
}

func (n *node) statePath() string { return filepath.Join(n.dataDir, "toynode.json") }

func (n *node) load() error {
	if n.dataDir == "" {
		return nil
	}
	b, err := os.ReadFile(n.statePath())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &n.st); err != nil {
		return fmt.Errorf("corrupt state file: %w", err)
	}
	if n.st.KV == nil {
		n.st.KV = map[string]string{}
	}
	if n.st.Seen == nil {
		n.st.Seen = map[string]json.RawMessage{}
	}
	return nil
}

// save replaces the state file atomically. Without fsync: the harness
// kills processes, not machines, so the page cache survives.
func (n *node) save() error {
	if n.dataDir == "" {
		return nil
	}
	b, err := json.Marshal(&n.st)
	if err != nil {
		return err
	}
	tmp := n.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, n.statePath())
}
