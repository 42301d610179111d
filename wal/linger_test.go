package wal

import (
	"sync"
	"testing"
	"time"
)

// commitTwo makes the flusher's next commit carry exactly the two writes
// from and from+1 (queued together behind a lone write that holds the
// flusher), so the commit after it may linger for two.
func commitTwo(t *testing.T, w *WAL, from uint64) {
	t.Helper()
	release := blockFlusher(t, w, from)
	var wg sync.WaitGroup
	for i := from + 1; i <= from+2; i++ {
		wg.Add(1)
		if err := w.Submit(Write{Entries: ents(i, i, 1)}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	release()
	wg.Wait()
}

// A linger that runs to its deadline is followed by lingerRestAfterMiss
// commits that start at once; lingers that reach their count go on.
func TestLingerRestsAfterRunningOut(t *testing.T) {
	t.Run("running out", func(t *testing.T) {
		w, err := Open(t.TempDir(), Options{MaxCommitDelay: 2 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		// Each round: a commit of two writes, then a lone write, which
		// would linger for a second one that never comes.
		rounds := lingerRestAfterMiss + 2
		next := uint64(1)
		for range rounds {
			commitTwo(t, w, next)
			mustAppend(t, w, ents(next+3, next+3, 1))
			next += 4
		}
		// The first lone write lingers and runs out; the next
		// lingerRestAfterMiss start at once; the one after lingers again.
		if st := w.Stats(); st.Lingers != 2 || st.LingersRunOut != 2 {
			t.Fatalf("%d lone writes after commits of two: %d lingers, %d ran out; want 2 and 2", rounds, st.Lingers, st.LingersRunOut)
		}
		wantLog(t, w, 1, next-1, constTerm(1))
	})
	t.Run("reaching the count", func(t *testing.T) {
		// A delay no test run reaches: every linger ends on the count.
		w, err := Open(t.TempDir(), Options{MaxCommitDelay: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		commitTwo(t, w, 1)
		next := uint64(4)
		const rounds = 5
		for r := range rounds {
			// The first write of the pair starts a linger; the second,
			// submitted once the flusher lingers, ends it.
			var wg sync.WaitGroup
			wg.Add(2)
			done := func(err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			}
			if err := w.Submit(Write{Entries: ents(next, next, 1)}, done); err != nil {
				t.Fatal(err)
			}
			for w.Stats().Lingers != uint64(r+1) {
				time.Sleep(100 * time.Microsecond)
			}
			if err := w.Submit(Write{Entries: ents(next+1, next+1, 1)}, done); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			next += 2
		}
		if st := w.Stats(); st.Lingers != rounds || st.LingersRunOut != 0 {
			t.Fatalf("%d lingers, %d ran out; want %d and 0", st.Lingers, st.LingersRunOut, rounds)
		}
		wantLog(t, w, 1, next-1, constTerm(1))
	})
}
