package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// stateFile is the file, in --data-dir, that holds a persisted state.
const stateFile = "kvnodes-state.json"

// state is a node's key-value map and the leader's table of forwarded
// requests already applied (with their answers, for duplicates).
type state struct {
	KV   map[string]string // canonical key text -> canonical value text
	seen map[string]*seenEntry
	ord  []*seenEntry // admission order, oldest first
}

type seenEntry struct {
	Fid string          `json:"fid"`
	At  int64           `json:"at"`  // admitted, unix ms
	Ans json.RawMessage `json:"ans"` // nil while the answer is pending
}

// onDisk is the state file's content.
type onDisk struct {
	KV   map[string]string `json:"kv"`
	Seen []*seenEntry      `json:"seen"`
}

func newState() state {
	return state{KV: map[string]string{}, seen: map[string]*seenEntry{}}
}

// canon is the canonical text of a JSON value: object keys sorted, no
// insignificant space, numbers as written.
func canon(raw json.RawMessage) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err == nil {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err == nil {
			return string(bytes.TrimRight(buf.Bytes(), "\n"))
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// apply runs one lin-kv request (Maelstrom's rules; create_if_not_exists
// is not part of the workload and is ignored).
func (s *state) apply(b body) body {
	k := canon(b.Key)
	v, exists := s.KV[k]
	switch b.Type {
	case "read":
		if !exists {
			return errBody(codeKeyMissing, "key does not exist")
		}
		return body{Type: "read_ok", Value: json.RawMessage(v)}
	case "write":
		if !exists && len(s.KV) >= maxKeys {
			return errBody(codeUnavailable, "too many keys")
		}
		s.KV[k] = canon(b.Value)
		return body{Type: "write_ok"}
	case "cas":
		if !exists {
			return errBody(codeKeyMissing, "key does not exist")
		}
		if from := canon(b.From); from != v {
			return errBody(codeMismatch, fmt.Sprintf("expected %s, have %s", from, v))
		}
		s.KV[k] = canon(b.To)
		return body{Type: "cas_ok"}
	}
	return errBody(codeNotSupported, "unsupported type "+b.Type)
}

// value is key's current value (nil if missing).
func (s *state) value(key json.RawMessage) json.RawMessage {
	v, ok := s.KV[canon(key)]
	if !ok {
		return nil
	}
	return json.RawMessage(v)
}

// set stores a replicated value; false when it is a new key and the map
// is full (replication paths bound keys too).
func (s *state) set(key, value json.RawMessage) bool {
	k := canon(key)
	if _, exists := s.KV[k]; !exists && len(s.KV) >= maxKeys {
		return false
	}
	s.KV[k] = canon(value)
	return true
}

func (s *state) lookup(fid string) (*seenEntry, bool) {
	e, ok := s.seen[fid]
	return e, ok
}

// admit records fid as applied-from-now-on. It refuses when the table is
// full of entries too young to forget.
func (s *state) admit(fid string, now time.Time) bool {
	s.expire(now)
	if len(s.ord) >= maxSeen {
		return false
	}
	e := &seenEntry{Fid: fid, At: now.UnixMilli()}
	s.seen[fid] = e
	s.ord = append(s.ord, e)
	return true
}

func (s *state) answered(fid string, ans json.RawMessage) {
	if e, ok := s.seen[fid]; ok {
		e.Ans = ans
	}
}

// expire forgets entries older than seenKeep: a forward that old is
// dropped unapplied anyway (fwdHorizon < seenKeep).
func (s *state) expire(now time.Time) bool {
	cut := now.Add(-seenKeep).UnixMilli()
	i := 0
	for i < len(s.ord) && s.ord[i].At < cut {
		delete(s.seen, s.ord[i].Fid)
		i++
	}
	if i == 0 {
		return false
	}
	s.ord = append(s.ord[:0:0], s.ord[i:]...)
	return true
}

// --- persistence ---

func (n *node) statePath() string { return filepath.Join(n.dataDir, stateFile) }

// load reads the state file if the design persists and one exists.
func (n *node) load() error {
	if n.dataDir == "" {
		return nil
	}
	raw, err := os.ReadFile(n.statePath())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var d onDisk
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("corrupt %s: %w", n.statePath(), err)
	}
	st := newState()
	if d.KV != nil {
		st.KV = d.KV
	}
	for _, e := range d.Seen {
		if e != nil && e.Fid != "" && st.seen[e.Fid] == nil {
			st.seen[e.Fid] = e
			st.ord = append(st.ord, e)
		}
	}
	n.st = st
	n.lastSave = n.now
	logf("loaded %d keys, %d dedup entries from %s", len(st.KV), len(st.ord), n.statePath())
	return nil
}

// save replaces the state file atomically and durably: write a temporary
// file, fsync it, rename it over the old one, fsync the directory.
func (n *node) save() error {
	n.dirty = false
	n.lastSave = n.now
	if n.dataDir == "" {
		return nil
	}
	raw, err := json.Marshal(onDisk{KV: n.st.KV, Seen: n.st.ord})
	if err != nil {
		return err
	}
	tmp := n.statePath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, n.statePath()); err != nil {
		return err
	}
	dir, err := os.Open(n.dataDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
