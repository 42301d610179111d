package maelstrom

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestLineReaderSkipsOversizeLinesAndGoesOn(t *testing.T) {
	huge := strings.Repeat("x", 300<<10) // several bufio buffers long
	in := "first\n" + huge + "\nsecond\r\n\nlast-without-newline"
	lr := NewLineReader(strings.NewReader(in), 1024)
	var got []string
	var oversize int
	for {
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrLineTooLong) {
			oversize++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
	}
	want := []string{"first", "second", "", "last-without-newline"}
	if strings.Join(got, "|") != strings.Join(want, "|") || oversize != 1 {
		t.Fatalf("got %q (oversize %d), want %q (oversize 1)", got, oversize, want)
	}
}

func TestLineReaderAcceptsLineAtTheLimit(t *testing.T) {
	line := strings.Repeat("y", 200<<10)
	lr := NewLineReader(strings.NewReader(line+"\n"), len(line))
	got, err := lr.Next()
	if err != nil || len(got) != len(line) {
		t.Fatalf("line at the limit: len %d err %v", len(got), err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestLineWriterKeepsLinesWholeUnderConcurrency(t *testing.T) {
	var out lockedBuffer
	lw := NewLineWriter(&out, 64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				lw.Write([]byte(strings.Repeat(string(rune('a'+g)), 100)), true)
			}
		}(g)
	}
	wg.Wait()
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.b.String(), "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("got %d lines, want %d", len(lines), 8*500)
	}
	for _, l := range lines {
		if len(l) != 100 || strings.Count(l, l[:1]) != 100 {
			t.Fatalf("interleaved or torn line %q", l)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestLineWriterReportsWriteErrorsAndDoesNotBlock(t *testing.T) {
	lw := NewLineWriter(failingWriter{}, 4)
	for i := 0; i < 100; i++ {
		lw.Write([]byte("x"), true) // must not deadlock after the error
	}
	if err := lw.Close(); err == nil {
		t.Fatal("write error not reported")
	}
}
