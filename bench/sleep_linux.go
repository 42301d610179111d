//go:build linux

package bench

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sleeper is the open-loop pacer's clock. It arms two alarms and wakes
// at whichever fires first:
//   - a runtime timer, which the scheduler checks at every scheduling
//     point, so it is punctual while the process is busy, but which an
//     idle process only notices through the network poller's millisecond
//     timeouts (up to 1 ms late);
//   - a timerfd read through the network poller, which the kernel's
//     high-resolution timer wakes within tens of microseconds when the
//     process is idle, but which a busy process may only poll every
//     10 ms.
//
// Waking early is harmless: the pacer checks the clock and sleeps again.
type sleeper struct {
	timer *time.Timer
	fd    int
	f     *os.File
	fired chan struct{}
}

func newSleeper() *sleeper {
	s := &sleeper{timer: time.NewTimer(time.Hour), fd: -1}
	s.timer.Stop()
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return s // runtime timer only
	}
	s.fd, s.f, s.fired = fd, os.NewFile(uintptr(fd), "raftbench-pacer-timerfd"), make(chan struct{}, 1)
	go s.readLoop()
	return s
}

// readLoop turns timerfd expirations into channel sends until close.
func (s *sleeper) readLoop() {
	var buf [8]byte
	for {
		if _, err := s.f.Read(buf[:]); err != nil {
			return
		}
		select {
		case s.fired <- struct{}{}:
		default:
		}
	}
}

// sleep waits about d, or until done is closed.
func (s *sleeper) sleep(d time.Duration, done <-chan struct{}) {
	s.timer.Reset(d)
	defer s.timer.Stop()
	if s.f != nil {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		_ = unix.TimerfdSettime(s.fd, 0, &spec, nil) // on failure the runtime timer still fires
	}
	select {
	case <-s.timer.C:
	case <-s.fired:
	case <-done:
	}
}

func (s *sleeper) close() {
	s.timer.Stop()
	if s.f != nil {
		s.f.Close()
	}
}
