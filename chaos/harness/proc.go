package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits on node I/O.
const (
	// MaxLineBytes is the longest line accepted from a node; longer ones
	// are discarded and reported as protocol errors.
	MaxLineBytes = 8 << 20
	// inboxLines bounds what waits to be written to one node's stdin;
	// beyond it messages are dropped, like a full socket buffer of a
	// paused process.
	inboxLines = 4096
	// initTimeout bounds how long a node may take to answer init.
	initTimeout = 10 * time.Second
	// stopGrace is how long a node gets after SIGTERM before SIGKILL.
	stopGrace = 2 * time.Second
)

// controlClient is the client name the harness sends init from.
const controlClient = "c0"

// proc is one incarnation of a node process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	inbox  chan []byte
	ready  atomic.Bool   // init_ok seen: messages may be delivered
	initOK chan struct{} // closed on init_ok
	done   chan struct{} // closed when the process has exited
	// expected is set before the harness kills or stops the process, so
	// the exit is not reported as a crash.
	expected atomic.Bool
	exitErr  error
}

// procEnv is what a proc needs from the cluster.
type procEnv struct {
	cfg      Config
	nodes    []string
	dataDir  string
	logFile  *os.File
	route    func(p *proc, dest string, line []byte)
	protoErr func(format string, args ...any)
	crashed  func(p *proc, err error)
	serve    *serveCluster // set when the run starts serve processes
}

// startProc spawns a node, sends it init and returns without waiting for
// init_ok (use waitInit).
func startProc(env procEnv, name string, incarnation int) (*proc, error) {
	if env.serve != nil {
		return startServeProc(env, env.serve, name, incarnation)
	}
	args := append([]string(nil), env.cfg.Args...)
	if env.cfg.DataDirFlag != "-" {
		args = append(args, env.cfg.DataDirFlag, env.dataDir)
	}
	if env.cfg.processFaults() {
		args = append(args, env.cfg.TestFaultsFlag)
	}
	cmd := exec.Command(env.cfg.Bin, args...)
	cmd.Stderr = env.logFile
	setProcAttr(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.logFile, "=== harness: starting %s (incarnation %d) at %s: %s %v\n",
		name, incarnation, time.Now().Format(time.RFC3339Nano), env.cfg.Bin, args)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, inbox: make(chan []byte, inboxLines),
		initOK: make(chan struct{}), done: make(chan struct{})}
	p.inbox <- initLine(name, env.nodes, incarnation)
	go p.writeLoop(stdin)
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { defer readers.Done(); p.readLoop(env, stdout) }()
	go func() {
		readers.Wait() // Wait closes stdout; read it to the end first
		p.exitErr = cmd.Wait()
		close(p.done)
		if !p.expected.Load() {
			env.crashed(p, p.exitErr)
		}
	}()
	return p, nil
}

func initLine(name string, nodes []string, msgID int) []byte {
	body, _ := json.Marshal(map[string]any{
		"type": "init", "msg_id": msgID, "node_id": name, "node_ids": nodes,
	})
	line, _ := json.Marshal(envelope{Src: controlClient, Dest: name, Body: body})
	return append(line, '\n')
}

// deliver hands a line to the node without blocking; false if dropped.
func (p *proc) deliver(line []byte) bool {
	if !p.ready.Load() {
		return false
	}
	select {
	case p.inbox <- line:
		return true
	default:
		return false
	}
}

func (p *proc) writeLoop(stdin io.WriteCloser) {
	defer stdin.Close()
	w := bufio.NewWriterSize(stdin, 1<<16)
	for {
		select {
		case <-p.done:
			return
		case line := <-p.inbox:
			if _, err := w.Write(line); err != nil {
				continue // the process is gone; done follows
			}
			if len(p.inbox) == 0 {
				w.Flush()
			}
		}
	}
}

func (p *proc) readLoop(env procEnv, stdout io.Reader) {
	r := bufio.NewReaderSize(stdout, 1<<16)
	for {
		line, err := readLine(r, MaxLineBytes)
		if errors.Is(err, errLineTooLong) {
			env.protoErr("%s: line longer than %d bytes discarded", p.name, MaxLineBytes)
			continue
		}
		if len(bytes.TrimSpace(line)) > 0 {
			p.handleLine(env, line)
		}
		if err != nil {
			return
		}
	}
}

func (p *proc) handleLine(env procEnv, line []byte) {
	var env0 envelope
	if err := json.Unmarshal(line, &env0); err != nil {
		env.protoErr("%s: malformed line on stdout: %v: %.200s", p.name, err, line)
		return
	}
	if env0.Src != p.name {
		env.protoErr("%s: message claims src %q: %.200s", p.name, env0.Src, line)
		return
	}
	if env0.Dest == controlClient {
		var b replyBody
		if json.Unmarshal(env0.Body, &b) == nil && b.Type == "init_ok" {
			if p.ready.CompareAndSwap(false, true) {
				close(p.initOK)
			}
			return
		}
	}
	env.route(p, env0.Dest, line)
}

var errLineTooLong = errors.New("line too long")

// readLine returns one line ending in a newline (added if the stream
// ended without one), at most max bytes. A longer line is consumed and
// errLineTooLong returned.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > max+1 {
			buf = nil
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, errLineTooLong
		}
		buf = append(buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if n := len(buf); n > 0 && buf[n-1] != '\n' {
			buf = append(buf, '\n')
		}
		return buf, err
	}
}

func (p *proc) waitInit(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.initOK:
		return nil
	case <-p.done:
		select {
		case <-p.initOK: // answered, then died: a crash, reported as such
			return nil
		default:
		}
		return fmt.Errorf("%s exited before init_ok: %v", p.name, p.exitErr)
	case <-t.C:
		return fmt.Errorf("%s sent no init_ok within %v", p.name, timeout)
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		signalNode(p.cmd.Process, sig)
	}
}

// kill SIGKILLs the process and waits for it to be reaped.
func (p *proc) kill() {
	p.expected.Store(true)
	p.ready.Store(false)
	p.signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to exit (SIGCONT in case it is paused, then
// SIGTERM) and kills it after stopGrace.
func (p *proc) stop() {
	p.expected.Store(true)
	p.ready.Store(false)
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.kill()
	}
}

func nodeDataDir(root, name string) string { return filepath.Join(root, name) }
