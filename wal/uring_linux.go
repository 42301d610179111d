package wal

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringSyncer fsyncs through an io_uring so that the flusher goroutine
// parks while the kernel syncs, instead of sitting in a blocking
// syscall.
//
// Why: the Go runtime leaves a P (a slot to run Go code) attached to a
// goroutine that is inside a syscall; only sysmon hands it to another
// thread, after at least 20 µs and often much later. An fsync lasts
// 0.15-0.5 ms on our VM's disk, so a process whose flushers spend most
// of their time in fsync (several WALs in one process, or GOMAXPROCS=2)
// has its Ps stuck there while runnable goroutines (the Raft loop, the
// apply loop, clients) wait. An io_uring FSYNC runs on a kernel worker;
// completion is signalled on an eventfd that Go's netpoller watches, so
// the waiting goroutine is parked like one blocked on a socket and the
// P keeps running other goroutines.
//
// One ring per WAL, one fsync in flight at a time (the flusher is the
// only caller), guarded by mu anyway so misuse cannot corrupt the ring.
type ringSyncer struct {
	mu     sync.Mutex
	fd     int
	ev     *os.File // eventfd, registered with the ring and the netpoller
	sqMem  []byte
	cqMem  []byte // same mapping as sqMem when the kernel has SINGLE_MMAP
	sqes   []byte
	sqHead *uint32
	sqTail *uint32
	sqMask uint32
	sqArr  unsafe.Pointer
	cqHead *uint32
	cqTail *uint32
	cqMask uint32
	cqes   unsafe.Pointer
	nextID uint64
	closed bool
}

// io_uring ABI (include/uapi/linux/io_uring.h); stable since Linux 5.1.
const (
	sysIOUringSetup    = 425
	sysIOUringEnter    = 426
	sysIOUringRegister = 427

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringFeatSingleMmap  = 1 << 0
	ioringOpFsync         = 3
	ioringFsyncDatasync   = 1 << 0
	ioringEnterGetEvents  = 1 << 0
	ioringRegisterEventfd = 4

	sqeSize = 64
	cqeSize = 16
)

type sqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type cqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

type uringParams struct {
	SQEntries, CQEntries, Flags, SQThreadCPU, SQThreadIdle, Features, WQFd uint32
	Resv                                                                   [3]uint32
	SQOff                                                                  sqringOffsets
	CQOff                                                                  cqringOffsets
}

// newRingSyncer sets up a small ring. It fails where io_uring is missing
// or forbidden (old kernels, seccomp profiles of container runtimes,
// kernel.io_uring_disabled); the caller then fsyncs directly.
func newRingSyncer() (*ringSyncer, error) {
	var p uringParams
	fd, _, errno := unix.Syscall(sysIOUringSetup, 4, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &ringSyncer{fd: int(fd)}
	fail := func(err error) (*ringSyncer, error) {
		r.release()
		return nil, err
	}
	sqSize := int(p.SQOff.Array + p.SQEntries*4)
	cqSize := int(p.CQOff.Cqes + p.CQEntries*cqeSize)
	if p.Features&ioringFeatSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqMem, err = unix.Mmap(r.fd, ioringOffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail(fmt.Errorf("mmap io_uring sq ring: %w", err))
	}
	if p.Features&ioringFeatSingleMmap != 0 {
		r.cqMem = r.sqMem
	} else if r.cqMem, err = unix.Mmap(r.fd, ioringOffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail(fmt.Errorf("mmap io_uring cq ring: %w", err))
	}
	if r.sqes, err = unix.Mmap(r.fd, ioringOffSQEs, int(p.SQEntries*sqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail(fmt.Errorf("mmap io_uring sqes: %w", err))
	}
	sq, cq := unsafe.Pointer(&r.sqMem[0]), unsafe.Pointer(&r.cqMem[0])
	r.sqHead = (*uint32)(unsafe.Add(sq, p.SQOff.Head))
	r.sqTail = (*uint32)(unsafe.Add(sq, p.SQOff.Tail))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.SQOff.RingMask))
	r.sqArr = unsafe.Add(sq, p.SQOff.Array)
	r.cqHead = (*uint32)(unsafe.Add(cq, p.CQOff.Head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.CQOff.Tail))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.CQOff.RingMask))
	r.cqes = unsafe.Add(cq, p.CQOff.Cqes)

	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fail(fmt.Errorf("eventfd: %w", err))
	}
	// A non-blocking descriptor: os.NewFile hands it to the netpoller.
	r.ev = os.NewFile(uintptr(efd), "io_uring-eventfd")
	e := int32(efd)
	if _, _, errno := unix.Syscall6(sysIOUringRegister, uintptr(r.fd), ioringRegisterEventfd, uintptr(unsafe.Pointer(&e)), 1, 0, 0); errno != 0 {
		return fail(fmt.Errorf("io_uring_register eventfd: %w", errno))
	}
	return r, nil
}

// FsyncOffloadAvailable reports whether this process may set up the
// io_uring the WAL offloads fsyncs to (see "Fsync offload" in doc.go).
// Benchmarks record it: the same engine measures differently without it.
func FsyncOffloadAvailable() bool {
	r, err := newRingSyncer()
	if err != nil {
		return false
	}
	r.Close()
	return true
}

// Sync fsyncs f (fdatasync if datasync) on the ring and waits, parked,
// for the result. An error from the kernel is returned as a *PathError
// like os.File.Sync's.
func (r *ringSyncer) Sync(f *os.File, datasync bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("wal: fsync ring closed")
	}
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var res int32
	var serr error
	cerr := raw.Control(func(fd uintptr) {
		// f stays open (and fd valid) until Control returns, so the
		// whole fsync happens inside it.
		res, serr = r.fsyncFD(int32(fd), datasync)
	})
	switch {
	case cerr != nil:
		return cerr
	case serr != nil:
		return serr
	case res < 0:
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.Errno(-res)}
	}
	return nil
}

func (r *ringSyncer) fsyncFD(fd int32, datasync bool) (int32, error) {
	r.nextID++
	id := r.nextID
	tail := atomic.LoadUint32(r.sqTail)
	if tail-atomic.LoadUint32(r.sqHead) > r.sqMask {
		return 0, errors.New("wal: fsync ring submission queue full")
	}
	slot := tail & r.sqMask
	sqe := r.sqes[slot*sqeSize : (slot+1)*sqeSize]
	clear(sqe)
	sqe[0] = ioringOpFsync
	*(*int32)(unsafe.Pointer(&sqe[4])) = fd
	if datasync {
		*(*uint32)(unsafe.Pointer(&sqe[28])) = ioringFsyncDatasync
	}
	*(*uint64)(unsafe.Pointer(&sqe[32])) = id
	*(*uint32)(unsafe.Add(r.sqArr, 4*slot)) = slot
	atomic.StoreUint32(r.sqTail, tail+1) // publishes the entry to the kernel
	for {
		n, _, errno := unix.Syscall6(sysIOUringEnter, uintptr(r.fd), 1, 0, 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, fmt.Errorf("io_uring_enter: %w", errno)
		}
		if n != 1 {
			return 0, fmt.Errorf("io_uring_enter submitted %d entries, want 1", n)
		}
		break
	}
	var buf [8]byte
	for {
		if res, ok := r.reap(id); ok {
			return res, nil
		}
		// Parks in the netpoller until the kernel posts a completion.
		if _, err := r.ev.Read(buf[:]); err != nil {
			return 0, fmt.Errorf("wal: wait for fsync completion: %w", err)
		}
	}
}

// reap takes completions off the ring; ok once the one for id is seen.
func (r *ringSyncer) reap(id uint64) (res int32, ok bool) {
	for {
		head := atomic.LoadUint32(r.cqHead)
		if head == atomic.LoadUint32(r.cqTail) {
			return res, ok
		}
		cqe := unsafe.Add(r.cqes, uintptr(head&r.cqMask)*cqeSize)
		if *(*uint64)(cqe) == id {
			res, ok = *(*int32)(unsafe.Add(cqe, 8)), true
		}
		atomic.StoreUint32(r.cqHead, head+1)
	}
}

// Close releases the ring. Safe to call more than once.
func (r *ringSyncer) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.release()
}

func (r *ringSyncer) release() error {
	var errs []error
	if r.sqes != nil {
		errs = append(errs, unix.Munmap(r.sqes))
	}
	if r.cqMem != nil && (r.sqMem == nil || unsafe.SliceData(r.cqMem) != unsafe.SliceData(r.sqMem)) {
		errs = append(errs, unix.Munmap(r.cqMem))
	}
	if r.sqMem != nil {
		errs = append(errs, unix.Munmap(r.sqMem))
	}
	if r.ev != nil {
		errs = append(errs, r.ev.Close())
	}
	errs = append(errs, unix.Close(r.fd))
	r.sqes, r.cqMem, r.sqMem, r.ev = nil, nil, nil, nil
	return errors.Join(errs...)
}
