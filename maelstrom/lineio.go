package maelstrom

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrLineTooLong is returned by LineReader.Next for a line over the limit;
// the reader has skipped the rest of that line and can go on.
var ErrLineTooLong = errors.New("maelstrom: line exceeds the size limit")

// LineReader reads newline-terminated lines with a hard size limit. Unlike
// bufio.Scanner (the demo library's choice, limited to 64 KiB and fatal on
// overflow) an oversize line is skipped and reported, and reading goes on.
type LineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewLineReader reads from r; lines longer than maxBytes are skipped.
func NewLineReader(r io.Reader, maxBytes int) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10), max: maxBytes}
}

// Next returns the next line without its newline. The slice is valid until
// the following call. At end of input it returns io.EOF (a final line
// without newline is still returned first).
func (lr *LineReader) Next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if !tooLong {
			if len(lr.buf)+len(chunk) > lr.max+1 {
				tooLong, lr.buf = true, lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, fmt.Errorf("%w (%d bytes)", ErrLineTooLong, lr.max)
			}
			return bytes.TrimRight(lr.buf, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if tooLong {
				return nil, fmt.Errorf("%w (%d bytes)", ErrLineTooLong, lr.max)
			}
			if len(lr.buf) > 0 {
				return bytes.TrimRight(lr.buf, "\r\n"), nil
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// LineWriter serialises lines onto one writer from many goroutines. A
// single goroutine drains a bounded queue and flushes only when the queue
// is empty, so bursts of messages become few write syscalls.
type LineWriter struct {
	queue chan []byte
	done  chan struct{}
	once  sync.Once
	err   error
	mu    sync.Mutex
	// Dropped counts lines refused because the queue was full.
	dropped uint64
}

// NewLineWriter starts the writer goroutine; queueLen bounds the backlog.
func NewLineWriter(w io.Writer, queueLen int) *LineWriter {
	lw := &LineWriter{queue: make(chan []byte, queueLen), done: make(chan struct{})}
	go lw.run(bufio.NewWriterSize(w, 256<<10))
	return lw
}

func (lw *LineWriter) run(bw *bufio.Writer) {
	defer close(lw.done)
	for line := range lw.queue {
		if err := lw.write(bw, line); err != nil {
			lw.setErr(err)
			for range lw.queue { // keep senders unblocked until Close
			}
			return
		}
		if len(lw.queue) == 0 {
			if err := bw.Flush(); err != nil {
				lw.setErr(err)
				for range lw.queue {
				}
				return
			}
		}
	}
	if err := bw.Flush(); err != nil {
		lw.setErr(err)
	}
}

func (lw *LineWriter) write(bw *bufio.Writer, line []byte) error {
	if _, err := bw.Write(line); err != nil {
		return err
	}
	return bw.WriteByte('\n')
}

func (lw *LineWriter) setErr(err error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err == nil {
		lw.err = err
	}
}

// Err returns the first write error, if any.
func (lw *LineWriter) Err() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.err
}

// Write queues one line (without newline). block says whether to wait for
// room: client replies block (they must not be lost), Raft traffic does
// not (Raft tolerates loss, and blocking would stall the node's loop).
func (lw *LineWriter) Write(line []byte, block bool) bool {
	if block {
		lw.queue <- line
		return true
	}
	select {
	case lw.queue <- line:
		return true
	default:
		lw.mu.Lock()
		lw.dropped++
		lw.mu.Unlock()
		return false
	}
}

// Dropped returns how many lines were refused because the queue was full.
func (lw *LineWriter) Dropped() uint64 {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.dropped
}

// Close flushes queued lines and stops the writer. Write must not be
// called after Close.
func (lw *LineWriter) Close() error {
	lw.once.Do(func() { close(lw.queue) })
	<-lw.done
	return lw.Err()
}
