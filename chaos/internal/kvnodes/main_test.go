package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// msg is one output message, decoded loosely.
type msg struct {
	Src  string         `json:"src"`
	Dest string         `json:"dest"`
	Body map[string]any `json:"body"`
}

func (m msg) typ() string { s, _ := m.Body["type"].(string); return s }

func (m msg) num(field string) float64 {
	f, ok := m.Body[field].(float64)
	if !ok {
		return -1
	}
	return f
}

// driver feeds scripted lines to one in-process node.
type driver struct {
	t   *testing.T
	n   *node
	buf bytes.Buffer
	w   *bufio.Writer
	now time.Time
}

func newDriver(t *testing.T, design, dataDir string) *driver {
	t.Helper()
	d := &driver{t: t, n: newNode(design, dataDir), now: time.Now()}
	d.w = bufio.NewWriter(&d.buf)
	return d
}

// line handles one raw input line and returns what the node sent.
func (d *driver) line(s string) []msg {
	d.t.Helper()
	d.n.now = d.now
	d.n.handle([]byte(s))
	return d.flush()
}

func (d *driver) tick(after time.Duration) []msg {
	d.t.Helper()
	d.now = d.now.Add(after)
	d.n.now = d.now
	d.n.tick()
	return d.flush()
}

func (d *driver) flush() []msg {
	d.t.Helper()
	if err := d.n.commit(d.w); err != nil {
		d.t.Fatal(err)
	}
	var out []msg
	for _, l := range strings.Split(strings.TrimSpace(d.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m msg
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			d.t.Fatalf("node wrote a malformed line %q: %v", l, err)
		}
		out = append(out, m)
	}
	d.buf.Reset()
	return out
}

// req sends body (a JSON object's inside) from src to dest.
func (d *driver) req(src, dest, body string) []msg {
	d.t.Helper()
	return d.line(fmt.Sprintf(`{"src":%q,"dest":%q,"body":{%s}}`, src, dest, body))
}

func (d *driver) init(id string, ids ...string) {
	d.t.Helper()
	raw, _ := json.Marshal(ids)
	out := d.req("c0", id, fmt.Sprintf(`"type":"init","msg_id":1,"node_id":%q,"node_ids":%s`, id, raw))
	if len(out) != 1 || out[0].typ() != "init_ok" || out[0].num("in_reply_to") != 1 || out[0].Src != id || out[0].Dest != "c0" {
		d.t.Fatalf("init: got %+v", out)
	}
}

// one expects exactly one reply to client msg_id id and returns it.
func one(t *testing.T, out []msg, src, dest string, id int) msg {
	t.Helper()
	if len(out) != 1 {
		t.Fatalf("want one reply, got %+v", out)
	}
	m := out[0]
	if m.Src != src || m.Dest != dest || m.num("in_reply_to") != float64(id) {
		t.Fatalf("want a reply from %s to %s in_reply_to %d, got %+v", src, dest, id, m)
	}
	return m
}

func wantErr(t *testing.T, m msg, code int) {
	t.Helper()
	if m.typ() != "error" || m.num("code") != float64(code) {
		t.Fatalf("want error %d, got %+v", code, m.Body)
	}
}

func wantType(t *testing.T, m msg, typ string) {
	t.Helper()
	if m.typ() != typ {
		t.Fatalf("want %s, got %+v", typ, m.Body)
	}
}

func TestInitHandshakeEveryDesign(t *testing.T) {
	for name := range designs {
		t.Run(name, func(t *testing.T) {
			d := newDriver(t, name, t.TempDir())
			d.init("n0", "n0")
			// A second init from the harness is answered again.
			d.init("n0", "n0")
			m := one(t, d.req("c1", "n0", `"type":"write","msg_id":5,"key":1,"value":2`), "n0", "c1", 5)
			wantType(t, m, "write_ok")
			m = one(t, d.req("c1", "n0", `"type":"read","msg_id":6,"key":1`), "n0", "c1", 6)
			if wantType(t, m, "read_ok"); m.num("value") != 2 {
				t.Fatalf("read %+v", m.Body)
			}
		})
	}
}

func TestRequestBeforeInit(t *testing.T) {
	d := newDriver(t, "primary", t.TempDir())
	m := one(t, d.req("c3", "n2", `"type":"read","msg_id":7,"key":1`), "n2", "c3", 7)
	wantErr(t, m, codeUnavailable)
	// Node-to-node traffic before init is skipped, not answered.
	if out := d.req("n1", "n2", `"type":"fwd","msg_id":3,"fid":"x","req":{}`); len(out) != 0 {
		t.Fatalf("fwd before init answered: %+v", out)
	}
}

func TestLinKVErrors(t *testing.T) {
	d := newDriver(t, "single", "")
	d.init("n0", "n0")
	wantErr(t, one(t, d.req("c1", "n0", `"type":"read","msg_id":1,"key":3`), "n0", "c1", 1), codeKeyMissing)
	wantErr(t, one(t, d.req("c1", "n0", `"type":"cas","msg_id":2,"key":3,"from":1,"to":2`), "n0", "c1", 2), codeKeyMissing)
	// create_if_not_exists is not part of lin-kv: ignored.
	wantErr(t, one(t, d.req("c1", "n0", `"type":"cas","msg_id":3,"key":3,"from":1,"to":2,"create_if_not_exists":true`), "n0", "c1", 3), codeKeyMissing)
	wantErr(t, one(t, d.req("c1", "n0", `"type":"read","msg_id":4,"key":3`), "n0", "c1", 4), codeKeyMissing)
	wantType(t, one(t, d.req("c1", "n0", `"type":"write","msg_id":5,"key":3,"value":4`), "n0", "c1", 5), "write_ok")
	wantErr(t, one(t, d.req("c1", "n0", `"type":"cas","msg_id":6,"key":3,"from":1,"to":2`), "n0", "c1", 6), codeMismatch)
	wantType(t, one(t, d.req("c1", "n0", `"type":"cas","msg_id":7,"key":3,"from":4,"to":0`), "n0", "c1", 7), "cas_ok")
	m := one(t, d.req("c1", "n0", `"type":"read","msg_id":8,"key":3`), "n0", "c1", 8)
	if wantType(t, m, "read_ok"); m.num("value") != 0 {
		t.Fatalf("read %+v", m.Body)
	}
	// Opaque JSON compared by canonical text.
	wantType(t, one(t, d.req("c1", "n0", `"type":"write","msg_id":9,"key":{"k":[1, 2]},"value":{"a":1,"b":"x"}`), "n0", "c1", 9), "write_ok")
	wantType(t, one(t, d.req("c1", "n0", `"type":"cas","msg_id":10,"key":{"k":[1,2]},"from":{ "b":"x", "a":1 },"to":null`), "n0", "c1", 10), "cas_ok")
	m = one(t, d.req("c1", "n0", `"type":"read","msg_id":11,"key":{"k":[1,2]}`), "n0", "c1", 11)
	if wantType(t, m, "read_ok"); m.Body["value"] != nil {
		t.Fatalf("read %+v", m.Body)
	}
	// Incomplete requests and unknown types get definite errors.
	wantErr(t, one(t, d.req("c1", "n0", `"type":"write","msg_id":12,"key":1`), "n0", "c1", 12), codeMalformed)
	wantErr(t, one(t, d.req("c1", "n0", `"type":"cas","msg_id":13,"key":1,"from":1`), "n0", "c1", 13), codeMalformed)
	wantErr(t, one(t, d.req("c1", "n0", `"type":"echo","msg_id":14`), "n0", "c1", 14), codeNotSupported)
}

func TestMalformedLinesSkipped(t *testing.T) {
	d := newDriver(t, "primary", t.TempDir())
	d.init("n0", "n0", "n1")
	for _, l := range []string{
		`not json`, `{"src":"c1"`, `[]`, `{"src":"c1","dest":"n0"}`, `{"src":"c1","dest":"n0","body":7}`,
		`{"src":"c1","dest":"n0","body":{"type":5}}`, `{"src":"c1","dest":"n0","body":{"type":"read","key":1}}`,
		`{"src":"n1","dest":"n0","body":{"type":"fwd_ok","fid":"nobody"}}`,
		`{"src":"n1","dest":"n0","body":{"type":"fwd","fid":"n1/e/1","req":"garbage"}}`,
		`{"src":"n1","dest":"n0","body":{"type":"rep","key":1}}`, `{"src":"n1","dest":"n0","body":{"type":"lww"}}`,
		`{"src":"n1","dest":"n0","body":{"type":"set","key":1,"value":9}}`, `{"src":"n1","dest":"n0","body":{"type":"rep_ok","rid":3}}`,
	} {
		if out := d.line(l); len(out) != 0 {
			t.Fatalf("%s: answered %+v", l, out)
		}
	}
	wantErr(t, one(t, d.req("c1", "n0", `"type":"read","msg_id":1,"key":1`), "n0", "c1", 1), codeKeyMissing)
}

// TestForwarding: a non-leader forwards, the leader applies each
// forward once, duplicates get the first answer, silence becomes error 0.
func TestForwarding(t *testing.T) {
	n0, n1 := newDriver(t, "primary", t.TempDir()), newDriver(t, "primary", t.TempDir())
	n0.init("n0", "n0", "n1")
	n1.init("n1", "n0", "n1")
	out := n1.req("c1", "n1", `"type":"write","msg_id":4,"key":1,"value":1`)
	if len(out) != 1 || out[0].Dest != "n0" || out[0].typ() != "fwd" {
		t.Fatalf("want a fwd to n0, got %+v", out)
	}
	fwd, _ := json.Marshal(out[0])
	ans := n0.line(string(fwd))
	if len(ans) != 1 || ans[0].typ() != "fwd_ok" || ans[0].Dest != "n1" {
		t.Fatalf("want fwd_ok to n1, got %+v", ans)
	}
	// A cas in between, then the duplicate: it must not write 1 again.
	wantType(t, one(t, n0.req("c2", "n0", `"type":"cas","msg_id":1,"key":1,"from":1,"to":2`), "n0", "c2", 1), "cas_ok")
	dup := n0.line(string(fwd))
	if len(dup) != 1 || dup[0].typ() != "fwd_ok" {
		t.Fatalf("duplicate fwd: %+v", dup)
	}
	m := one(t, n0.req("c2", "n0", `"type":"read","msg_id":2,"key":1`), "n0", "c2", 2)
	if m.num("value") != 2 {
		t.Fatalf("duplicate forward applied twice: read %+v", m.Body)
	}
	okLine, _ := json.Marshal(ans[0])
	wantType(t, one(t, n1.line(string(okLine)), "n1", "c1", 4), "write_ok")
	if out := n1.line(string(okLine)); len(out) != 0 {
		t.Fatalf("duplicate fwd_ok answered again: %+v", out)
	}
	// The leader never answers: indefinite error 0 after 800ms.
	if out := n1.req("c1", "n1", `"type":"read","msg_id":5,"key":1`); len(out) != 1 {
		t.Fatalf("no fwd: %+v", out)
	}
	if out := n1.tick(500 * time.Millisecond); len(out) != 0 {
		t.Fatalf("gave up too early: %+v", out)
	}
	wantErr(t, one(t, n1.tick(400*time.Millisecond), "n1", "c1", 5), codeTimeout)
	// A stale forward the leader never saw is dropped unapplied.
	stale := fmt.Sprintf(`{"src":"n1","dest":"n0","body":{"type":"fwd","msg_id":9,"fid":"n1/old/1","sent":%d,"req":{"type":"write","msg_id":1,"key":1,"value":7}}}`,
		n0.now.Add(-3*time.Second).UnixMilli())
	if out := n0.line(stale); len(out) != 0 {
		t.Fatalf("stale fwd answered: %+v", out)
	}
	if m := one(t, n0.req("c2", "n0", `"type":"read","msg_id":3,"key":1`), "n0", "c2", 3); m.num("value") != 2 {
		t.Fatalf("stale fwd applied: %+v", m.Body)
	}
}

func TestPrimaryPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	d := newDriver(t, "primary", dir)
	d.init("n0", "n0", "n1")
	wantType(t, one(t, d.req("c1", "n0", `"type":"write","msg_id":1,"key":1,"value":3`), "n0", "c1", 1), "write_ok")
	// The answer went out, so the state is already on disk.
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	var disk onDisk
	if err := json.Unmarshal(raw, &disk); err != nil || disk.KV["1"] != "3" {
		t.Fatalf("state file %s: %v", raw, err)
	}
	fwd := fmt.Sprintf(`{"src":"n1","dest":"n0","body":{"type":"fwd","msg_id":9,"fid":"n1/e/1","sent":%d,"req":{"type":"cas","msg_id":1,"key":1,"from":3,"to":4}}}`,
		d.now.UnixMilli())
	first := d.line(fwd)
	if len(first) != 1 || first[0].typ() != "fwd_ok" {
		t.Fatalf("fwd: %+v", first)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile+".tmp")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}

	// kill -9 and restart on the same data dir.
	d = newDriver(t, "primary", dir)
	d.init("n0", "n0", "n1")
	m := one(t, d.req("c2", "n0", `"type":"read","msg_id":1,"key":1`), "n0", "c2", 1)
	if m.num("value") != 4 {
		t.Fatalf("after restart read %+v, want 4", m.Body)
	}
	// The dedup table survived: the duplicate gets the first answer
	// (cas_ok), not a fresh 22.
	dup := d.line(fwd)
	if len(dup) != 1 || dup[0].typ() != "fwd_ok" || dup[0].Body["req"].(map[string]any)["type"] != "cas_ok" {
		t.Fatalf("duplicate after restart: %+v", dup)
	}
}

func TestAckBeforeFsyncSavesLater(t *testing.T) {
	dir := t.TempDir()
	d := newDriver(t, "ack-before-fsync", dir)
	d.init("n0", "n0")
	d.tick(time.Second) // nothing to save yet
	wantType(t, one(t, d.req("c1", "n0", `"type":"write","msg_id":1,"key":1,"value":3`), "n0", "c1", 1), "write_ok")
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !os.IsNotExist(err) {
		t.Fatalf("saved before the background save: %v", err)
	}
	// Killed now, the acknowledged write is gone.
	lost := newDriver(t, "ack-before-fsync", dir)
	lost.init("n0", "n0")
	wantErr(t, one(t, lost.req("c1", "n0", `"type":"read","msg_id":1,"key":1`), "n0", "c1", 1), codeKeyMissing)
	// After the background save it survives.
	d.tick(lazySaveEvery)
	kept := newDriver(t, "ack-before-fsync", dir)
	kept.init("n0", "n0")
	if m := one(t, kept.req("c1", "n0", `"type":"read","msg_id":1,"key":1`), "n0", "c1", 1); m.num("value") != 3 {
		t.Fatalf("after save read %+v", m.Body)
	}
}

func TestForgetfulForgets(t *testing.T) {
	dir := t.TempDir()
	d := newDriver(t, "forgetful", dir)
	d.init("n0", "n0")
	wantType(t, one(t, d.req("c1", "n0", `"type":"write","msg_id":1,"key":1,"value":3`), "n0", "c1", 1), "write_ok")
	d.tick(time.Second)
	d = newDriver(t, "forgetful", dir)
	d.init("n0", "n0")
	wantErr(t, one(t, d.req("c1", "n0", `"type":"read","msg_id":2,"key":1`), "n0", "c1", 2), codeKeyMissing)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("forgetful wrote to its data dir: %v", ents)
	}
}

// TestRunOverPipe drives the real event loop through pipes.
func TestRunOverPipe(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	n := newNode("primary", t.TempDir())
	done := make(chan error, 1)
	go func() { done <- n.run(inR, outW); outW.Close() }()
	sc := bufio.NewScanner(outR)
	exchange := func(in string) msg {
		t.Helper()
		if _, err := io.WriteString(inW, in+"\n"); err != nil {
			t.Fatal(err)
		}
		if !sc.Scan() {
			t.Fatalf("no answer to %s: %v", in, sc.Err())
		}
		var m msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		return m
	}
	wantErr(t, exchange(`{"src":"c9","dest":"n0","body":{"type":"read","msg_id":1,"key":1}}`), codeUnavailable)
	wantType(t, exchange(`{"src":"c0","dest":"n0","body":{"type":"init","msg_id":1,"node_id":"n0","node_ids":["n0"]}}`), "init_ok")
	io.WriteString(inW, "garbage\n\n"+strings.Repeat("x", maxLine+10)+"\n")
	wantType(t, exchange(`{"src":"c1","dest":"n0","body":{"type":"write","msg_id":2,"key":1,"value":1}}`), "write_ok")
	if m := exchange(`{"src":"c1","dest":"n0","body":{"type":"read","msg_id":3,"key":1}}`); m.num("value") != 1 || m.num("in_reply_to") != 3 {
		t.Fatalf("read %+v", m)
	}
	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("run did not return at EOF")
	}
}

// TestBrokenDesignsMisbehave checks, in process, the mechanism each
// broken design relies on, so a harness failure to catch it means the
// harness, not the design, lost its teeth.
func TestBrokenDesignsMisbehave(t *testing.T) {
	t.Run("split-brain", func(t *testing.T) {
		d := newDriver(t, "split-brain", "")
		d.init("n1", "n0", "n1", "n2")
		if out := d.req("c1", "n1", `"type":"write","msg_id":1,"key":1,"value":1`); len(out) != 1 || out[0].typ() != "fwd" {
			t.Fatalf("with n0 fresh, want a fwd: %+v", out)
		}
		// Silence from n0: n1 promotes itself and serves the forwarded
		// write itself (n0 may have applied it too).
		out := d.tick(leaderTimeout + 50*time.Millisecond)
		if len(out) != 3 || out[0].typ() != "set" || out[2].typ() != "write_ok" || out[2].num("in_reply_to") != 1 {
			t.Fatalf("promoted: want 2 sets then write_ok, got %+v", out)
		}
		out = d.req("c1", "n1", `"type":"write","msg_id":2,"key":1,"value":2`)
		if len(out) != 3 || out[2].typ() != "write_ok" {
			t.Fatalf("promoted: want 2 sets then write_ok, got %+v", out)
		}
		// n0 heard from again: forwarding resumes.
		d.req("n0", "n1", `"type":"hb"`)
		if out := d.req("c1", "n1", `"type":"read","msg_id":3,"key":1`); len(out) != 1 || out[0].typ() != "fwd" {
			t.Fatalf("demoted: want a fwd, got %+v", out)
		}
	})
	t.Run("local-reads", func(t *testing.T) {
		n0, n1 := newDriver(t, "local-reads", ""), newDriver(t, "local-reads", "")
		n0.init("n0", "n0", "n1", "n2")
		n1.init("n1", "n0", "n1", "n2")
		out := n0.req("c1", "n0", `"type":"write","msg_id":1,"key":1,"value":1`)
		if len(out) != 2 || out[0].typ() != "rep" {
			t.Fatalf("want reps, got %+v", out)
		}
		ack := n0.req("n2", "n0", fmt.Sprintf(`"type":"rep_ok","rid":%v`, out[1].Body["rid"]))
		wantType(t, one(t, ack, "n0", "c1", 1), "write_ok")
		// n1 never got its rep: a stale read after an acknowledged write.
		wantErr(t, one(t, n1.req("c2", "n1", `"type":"read","msg_id":1,"key":1`), "n1", "c2", 1), codeKeyMissing)
		// Cut off from n0, n1 refuses writes (definite 11) but still reads.
		n1.tick(leaderTimeout + 50*time.Millisecond)
		wantErr(t, one(t, n1.req("c2", "n1", `"type":"write","msg_id":2,"key":1,"value":5`), "n1", "c2", 2), codeUnavailable)
		wantErr(t, one(t, n1.req("c2", "n1", `"type":"read","msg_id":3,"key":1`), "n1", "c2", 3), codeKeyMissing)
	})
	t.Run("async-lww", func(t *testing.T) {
		n0, n1 := newDriver(t, "async-lww", ""), newDriver(t, "async-lww", "")
		n0.init("n0", "n0", "n1")
		n1.init("n1", "n0", "n1")
		wantType(t, n0.req("c1", "n0", `"type":"write","msg_id":1,"key":1,"value":1`)[1], "write_ok")
		wantErr(t, one(t, n1.req("c2", "n1", `"type":"read","msg_id":1,"key":1`), "n1", "c2", 1), codeKeyMissing)
	})
}
