//go:build !linux

package bench

import "time"

// sleeper falls back to the runtime's timers outside Linux.
type sleeper struct{}

func newSleeper() *sleeper               { return &sleeper{} }
func (s *sleeper) sleep(d time.Duration) { time.Sleep(d) }
func (s *sleeper) close()                {}
