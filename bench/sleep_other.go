//go:build !linux

package bench

import "time"

// sleeper uses the runtime's timers outside Linux.
type sleeper struct{ timer *time.Timer }

func newSleeper() *sleeper {
	s := &sleeper{timer: time.NewTimer(time.Hour)}
	s.timer.Stop()
	return s
}

func (s *sleeper) sleep(d time.Duration, done <-chan struct{}) {
	s.timer.Reset(d)
	defer s.timer.Stop()
	select {
	case <-s.timer.C:
	case <-done:
	}
}

func (s *sleeper) close() { s.timer.Stop() }
