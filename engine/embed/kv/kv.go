package kv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Op is a command's operation.
type Op uint8

const (
	OpRead  Op = 1
	OpWrite Op = 2
	OpCas   Op = 3
)

func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpCas:
		return "cas"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Status is the outcome of a command.
type Status uint8

const (
	StatusOK Status = 0
	// StatusNotFound: read or cas of a key that has no value.
	StatusNotFound Status = 1
	// StatusMismatch: cas whose From differs from the current value.
	StatusMismatch Status = 2
	// StatusBadCommand: the command could not be decoded. Deterministic,
	// so every replica answers it the same way.
	StatusBadCommand Status = 3
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusNotFound:
		return "key does not exist"
	case StatusMismatch:
		return "precondition failed"
	case StatusBadCommand:
		return "bad command"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Command is a decoded command.
type Command struct {
	Op    Op
	Key   []byte
	Value []byte // OpWrite: new value; OpCas: the "to" value
	From  []byte // OpCas only
	// CreateIfMissing makes a cas on a missing key succeed by writing
	// Value (Maelstrom's create_if_not_exists).
	CreateIfMissing bool
}

// Result is a decoded result.
type Result struct {
	Status Status
	Value  []byte // OpRead with StatusOK
}

// Limits on decoded sizes, so a corrupt command cannot allocate wildly.
const (
	MaxKeyBytes   = 64 << 10
	MaxValueBytes = 16 << 20
)

// ErrMalformed is returned for undecodable commands or results.
var ErrMalformed = errors.New("kv: malformed encoding")

const flagCreateIfMissing = 1

// EncodeWrite returns the command that sets key to value.
func EncodeWrite(key, value []byte) []byte {
	return encode(Command{Op: OpWrite, Key: key, Value: value})
}

// EncodeCas returns the command that sets key to "to" if it holds "from".
func EncodeCas(key, from, to []byte, createIfMissing bool) []byte {
	return encode(Command{Op: OpCas, Key: key, From: from, Value: to, CreateIfMissing: createIfMissing})
}

// EncodeRead returns the query that reads key.
func EncodeRead(key []byte) []byte {
	return encode(Command{Op: OpRead, Key: key})
}

// encode allocates the command's exact size once (appending to nil grew
// the buffer three or four times per command).
func encode(c Command) []byte {
	return appendCommand(make([]byte, 0, EncodedLen(c)), c)
}

// EncodedLen is the size of c's encoding: what AppendCommand appends.
func EncodedLen(c Command) int {
	n := 2 + uvarintLen(len(c.Key)) + len(c.Key)
	switch c.Op {
	case OpWrite:
		n += uvarintLen(len(c.Value)) + len(c.Value)
	case OpCas:
		n += uvarintLen(len(c.From)) + len(c.From) + uvarintLen(len(c.Value)) + len(c.Value)
	}
	return n
}

// AppendCommand appends c's encoding to b.
func AppendCommand(b []byte, c Command) []byte { return appendCommand(b, c) }

func appendCommand(b []byte, c Command) []byte {
	var flags byte
	if c.CreateIfMissing {
		flags |= flagCreateIfMissing
	}
	b = append(b, byte(c.Op), flags)
	b = binary.AppendUvarint(b, uint64(len(c.Key)))
	b = append(b, c.Key...)
	switch c.Op {
	case OpWrite:
		b = binary.AppendUvarint(b, uint64(len(c.Value)))
		b = append(b, c.Value...)
	case OpCas:
		b = binary.AppendUvarint(b, uint64(len(c.From)))
		b = append(b, c.From...)
		b = binary.AppendUvarint(b, uint64(len(c.Value)))
		b = append(b, c.Value...)
	}
	return b
}

// DecodeCommand decodes a command. The returned slices alias b.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if len(b) < 2 {
		return c, fmt.Errorf("%w: command of %d bytes", ErrMalformed, len(b))
	}
	c.Op, c.CreateIfMissing = Op(b[0]), b[1]&flagCreateIfMissing != 0
	rest := b[2:]
	var err error
	if c.Key, rest, err = readBytes(rest, MaxKeyBytes); err != nil {
		return c, fmt.Errorf("key: %w", err)
	}
	switch c.Op {
	case OpRead:
	case OpWrite:
		if c.Value, rest, err = readBytes(rest, MaxValueBytes); err != nil {
			return c, fmt.Errorf("value: %w", err)
		}
	case OpCas:
		if c.From, rest, err = readBytes(rest, MaxValueBytes); err != nil {
			return c, fmt.Errorf("from: %w", err)
		}
		if c.Value, rest, err = readBytes(rest, MaxValueBytes); err != nil {
			return c, fmt.Errorf("to: %w", err)
		}
	default:
		return c, fmt.Errorf("%w: unknown op %d", ErrMalformed, b[0])
	}
	if len(rest) != 0 {
		return c, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return c, nil
}

func readBytes(b []byte, limit uint64) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad length prefix", ErrMalformed)
	}
	// One command, one encoding: an overlong length prefix (0x80 0x00
	// for 0) is refused, so equal commands are equal bytes.
	var scratch [binary.MaxVarintLen64]byte
	if binary.PutUvarint(scratch[:], n) != k {
		return nil, nil, fmt.Errorf("%w: overlong length prefix", ErrMalformed)
	}
	if n > limit || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: length %d exceeds limit or input", ErrMalformed, n)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// AppendResult appends r's encoding to b.
func AppendResult(b []byte, r Result) []byte {
	b = append(b, byte(r.Status))
	if r.Status == StatusOK && r.Value != nil {
		b = append(b, 1)
		b = append(b, r.Value...)
	}
	return b
}

// statusResults are the encodings of the results that carry no value,
// one per status, shared by every Apply, BlindResult and Query that
// returns one: most results are a bare status (every write's "ok"), and a
// one-byte allocation per command on every replica was a tenth of the
// apply path's allocations. Each has cap == len, so an append by a
// caller copies instead of writing into the shared array; callers must
// treat results as read-only (they already alias the session table's
// cached copy).
var statusResults = [...][]byte{
	StatusOK:         {byte(StatusOK)},
	StatusNotFound:   {byte(StatusNotFound)},
	StatusMismatch:   {byte(StatusMismatch)},
	StatusBadCommand: {byte(StatusBadCommand)},
}

// encodeResult is AppendResult(nil, r), without an allocation when r
// carries no value.
func encodeResult(r Result) []byte {
	if r.Value == nil && int(r.Status) < len(statusResults) {
		return statusResults[r.Status][:1:1]
	}
	return AppendResult(make([]byte, 0, 2+len(r.Value)), r)
}

// DecodeResult decodes a result; Value aliases b.
func DecodeResult(b []byte) (Result, error) {
	if len(b) == 0 || Status(b[0]) > StatusBadCommand {
		return Result{}, fmt.Errorf("%w: result", ErrMalformed)
	}
	r := Result{Status: Status(b[0])}
	if len(b) > 1 {
		if b[1] != 1 || r.Status != StatusOK {
			return Result{}, fmt.Errorf("%w: result value marker", ErrMalformed)
		}
		r.Value = b[2:]
	}
	return r, nil
}

// Store is the key-value state machine. Apply and Restore take the write
// lock; Query takes the read lock, so reads can run beside each other.
//
// Layout (so the garbage collector's work and the memory per key stay
// flat as keys grow): every record (key and value) lives in large
// append-only slabs, and the index maps a 64-bit hash of the key to the
// record's location in a flat pointer-free table, which the collector
// never scans. Keys whose hash collides with another key's
// go to a small overflow map. Full-size slabs (2 MiB) and index arrays of
// 2 MiB or more are mapped outside the Go heap, so a large store does not
// raise the collector's heap goal, and on huge-page boundaries, without
// asking for transparent huge pages unless Options.HugePages says so
// (offheap_linux.go says why). See slab.go and hindex.go. Memory per
// key: the record (a state byte, two uvarint lengths, key, value) plus
// 21-43 bytes of index (16-byte slots, 3/8 to 3/4 full) and a little
// slab slack, whatever the number of keys (182 bytes in all measured at
// a million keys of 16 + 128 bytes); while a snapshot view is open, 16
// more bytes per key written meanwhile; while the index grows (moved
// over a few entries per write), its old array too.
type Store struct {
	mu sync.RWMutex
	t  table
	// views counts snapshot views not yet encoded. They share the slabs,
	// so while any is open a write appends a new record instead of
	// overwriting the old value in place.
	views atomic.Int32
	opts  Options
	// values holds the results that carry a value (reads), carved out
	// of shared chunks (valueResult).
	values struct {
		mu    sync.Mutex
		chunk []byte
	}
}

// valueChunkBytes is one chunk of value results; a result above a
// quarter of it gets a slice of its own.
const valueChunkBytes = 16 << 10

// valueResult encodes r, which carries a value, into bytes carved from a
// shared chunk: one allocation per chunk instead of one per read. A
// goroutine that allocates while the garbage collector marks pays a mark
// assist of at least 64 KiB of marking first, and the store's caller is
// the replica's apply goroutine, which every answer waits for; allocating
// once in about a hundred reads, it is rarely the one caught. Each result
// has cap == len, so a caller's append copies instead of writing into the
// next result. A chunk lives while any result carved from it does.
func (s *Store) valueResult(r Result) []byte {
	n := 2 + len(r.Value)
	if n > valueChunkBytes/4 {
		return AppendResult(make([]byte, 0, n), r)
	}
	v := &s.values
	v.mu.Lock()
	if cap(v.chunk)-len(v.chunk) < n {
		v.chunk = make([]byte, 0, valueChunkBytes)
	}
	off := len(v.chunk)
	v.chunk = AppendResult(v.chunk, r)
	b := v.chunk[off:len(v.chunk):len(v.chunk)]
	v.mu.Unlock()
	return b
}

// encodeResult is AppendResult(nil, r): a shared status result when r
// carries no value, else a valueResult.
func (s *Store) encodeResult(r Result) []byte {
	if r.Value == nil && int(r.Status) < len(statusResults) {
		return statusResults[r.Status][:1:1]
	}
	return s.valueResult(r)
}

// Options tune a store's memory; the zero value is the default.
type Options struct {
	// HugePages asks the kernel for transparent huge pages
	// (MADV_HUGEPAGE) for the store's full-size slabs and large index
	// arrays (Linux; the system's THP setting must be "madvise" or
	// "always"). With 4 KiB pages a store much larger than the CPU's TLB
	// reach (a few MiB) takes a TLB miss on most index probes and record
	// reads, and each fresh page its own fault; with huge pages a 2 MiB
	// slab is one page. The cost: a huge page's first fault maps and
	// zeroes 2 MiB at once, on the goroutine that opens the slab.
	HugePages bool
}

// NewStore returns an empty store with the default options.
func NewStore() *Store { return NewStoreWith(Options{}) }

// NewStoreWith returns an empty store with opts.
func NewStoreWith(opts Options) *Store {
	return &Store{t: newTable(opts.HugePages), opts: opts}
}

// Options returns the options the store was made with.
func (s *Store) Options() Options { return s.opts }

// Apply executes a write or cas command and returns the encoded result.
// A read command is answered too (it changes nothing), so a read that is
// proposed through the log also works. Values are copied: the store never
// aliases its caller's buffers.
func (s *Store) Apply(cmd []byte) []byte {
	c, err := DecodeCommand(cmd)
	if err != nil {
		return encodeResult(Result{Status: StatusBadCommand})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.encodeResult(s.applyLocked(c))
}

// BlindResult is the result of a write, which does not depend on the
// state (it always answers ok), so the runtime may answer it once it is
// committed, before it is applied (driver.BlindResulter). Reads and cas
// depend on the state; an undecodable command is left to Apply.
func (s *Store) BlindResult(cmd []byte) ([]byte, bool) {
	if len(cmd) == 0 || Op(cmd[0]) != OpWrite {
		return nil, false
	}
	if _, err := DecodeCommand(cmd); err != nil {
		return nil, false
	}
	return encodeResult(Result{Status: StatusOK}), true
}

// applyLocked runs c; a returned Value aliases the slabs and must be
// copied before the lock is released (AppendResult does).
func (s *Store) applyLocked(c Command) Result {
	loc, ok := s.t.find(c.Key)
	var cur []byte
	if ok {
		cur = s.t.value(loc)
	}
	switch c.Op {
	case OpRead:
		if !ok {
			return Result{Status: StatusNotFound}
		}
		return Result{Status: StatusOK, Value: cur}
	case OpWrite:
		s.set(c.Key, loc, ok, cur, c.Value)
		return Result{Status: StatusOK}
	case OpCas:
		if !ok {
			if c.CreateIfMissing {
				s.set(c.Key, loc, ok, cur, c.Value)
				return Result{Status: StatusOK}
			}
			return Result{Status: StatusNotFound}
		}
		if !bytes.Equal(cur, c.From) {
			return Result{Status: StatusMismatch}
		}
		s.set(c.Key, loc, ok, cur, c.Value)
		return Result{Status: StatusOK}
	}
	return Result{Status: StatusBadCommand}
}

// set stores value under key, whose record is at loc (present if ok)
// with value cur. A value of the same length is overwritten in place:
// no allocation, no index update. That is safe because the slabs never
// leave the store (reads and snapshots copy), except to an open snapshot
// view, which blocks it.
//
// Once no view is open, each write also folds a few of the index changes
// made while one was (table.fold), moves a few index entries of a
// growth in progress (hindex.move) and a few records of a compaction in
// progress (table.compactStep).
func (s *Store) set(key []byte, loc uint64, ok bool, cur, value []byte) {
	free := s.views.Load() == 0
	if free && len(s.t.toFold) > 0 {
		s.t.fold(foldStep)
	}
	if free && s.t.index.moving() {
		// An index growth finishes even when every write overwrites in
		// place (no index set): until then lookups of entries not moved
		// yet look in two arrays.
		s.t.index.move(moveStep)
	}
	if ok && len(cur) == len(value) && free {
		copy(cur, value)
	} else {
		s.t.put(key, loc, ok, value, free)
	}
	if free && s.t.compacting {
		// After the write: a step may move the record loc and cur name.
		s.t.compactStep(compactStepRecords)
	}
}

// Query answers a read command without changing state. Any other command
// is answered StatusBadCommand.
func (s *Store) Query(q []byte) []byte {
	c, err := DecodeCommand(q)
	if err != nil || c.Op != OpRead {
		return encodeResult(Result{Status: StatusBadCommand})
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.encodeResult(s.applyLocked(c))
}

// Len returns the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.t.len()
}

// MemoryBytes is the store's own memory: slabs (live records and
// garbage) and an estimate of the index.
func (s *Store) MemoryBytes() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.t.memoryBytes()
}

const snapshotMagic = "RBKV1"

// Snapshot encodes the whole store, keys sorted, so equal stores have
// equal snapshots: the canonical encoding, for digests that compare
// replicas' states and for the in-memory snapshot path (small states).
// The streamed snapshot (SnapshotViewStream) holds the same records in
// slab order instead, as a slab image (RBKV2, image.go): neither format
// (RBKV1: magic, count, then key/value pairs) depends on the order,
// RestoreFrom accepts any order and refuses a key listed twice, so only
// byte-for-byte comparison needs the sort, and a background snapshot of
// a large state does not pay for it.
func (s *Store) Snapshot() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.t.frozenCopy().appendSnapshot(nil)
}

// SnapshotView captures the state as it is now and returns a function
// that encodes it, with the bytes Snapshot would have returned now. The
// capture copies only the slab list and shares the index (see table:
// no sorting, no encoding, nothing O(keys) unless another view is still
// open, then the index is copied), so the caller's goroutine is held up
// briefly; encode may then run on
// any goroutine, beside Apply. encode must be called: until then, writes
// append new records instead of overwriting values in place (Capture
// also lets a caller abandon the view).
func (s *Store) SnapshotView() (encode func() []byte) {
	return s.Capture().Encode
}

// SnapshotViewAppend is SnapshotView whose encoder appends the snapshot
// to prefix (reallocated once, to the exact size).
func (s *Store) SnapshotViewAppend() (appendTo func(prefix []byte) []byte) {
	v := s.Capture()
	return func(prefix []byte) []byte {
		var out []byte
		v.once.Do(func() { out = v.data.appendSnapshot(prefix); v.close() })
		return out
	}
}

// SnapshotViewStream is SnapshotView for states too large to hold
// encoded: size tells the encoding's exact size (known at the capture,
// no pass over the records) and writeTo streams the state as it was at
// the capture, records in slab order (see Snapshot: the same records as
// Snapshot's encoding, not sorted; a slab image, see View.WriteTo), on
// any one goroutine; release drops a view that will not be written.
func (s *Store) SnapshotViewStream() (size func() int64, writeTo func(io.Writer) (int64, error), release func()) {
	v := s.Capture()
	return v.Size, v.WriteTo, v.Release
}

// View is the state captured by Capture, encoded on demand.
type View struct {
	s    *Store
	once sync.Once
	data *frozenTable
	b    []byte
	size int // of the streamed encoding
}

// Capture is SnapshotView for callers that may drop the view unencoded:
// the view must end with Encode or Release.
func (s *Store) Capture() *View {
	s.mu.Lock()
	v := &View{s: s, data: s.t.freeze(s.views.Load() > 0)}
	v.size = v.data.streamSize()
	if v.data.exact {
		v.size = v.data.imageSize()
	}
	s.views.Add(1)
	s.mu.Unlock()
	return v
}

// Encode returns the captured state's snapshot bytes (encoded once) and
// closes the view; after Release it returns nil.
func (v *View) Encode() []byte {
	v.once.Do(func() { v.b = v.data.appendSnapshot(nil); v.close() })
	return v.b
}

// Size is the exact size of what WriteTo writes (O(1): the live bytes
// the table counts as it goes).
func (v *View) Size() int64 { return int64(v.size) }

// WriteTo writes the state captured by the view to w, the live records
// in slab order (no sort: memory is read in order), and closes the view.
// A view whose dead marks are exact (the only one open when captured:
// every background snapshot) is written as a slab image (RBKV2, see
// image.go): runs of live records copied as the slabs hold them, no
// per-record encoding; another one in RBKV1 through a small buffer. It
// writes Size bytes; RestoreFrom reads either back.
func (v *View) WriteTo(w io.Writer) (int64, error) {
	n, err := int64(0), errors.New("kv: snapshot view already encoded or released")
	v.once.Do(func() {
		if v.data.exact {
			n, err = v.data.writeImage(w)
		} else {
			n, err = v.data.writeSnapshot(w, v.data.len(), v.data.inSlabOrder())
		}
		v.close()
	})
	return n, err
}

// Release closes a view that will not be encoded; after Encode it does
// nothing.
func (v *View) Release() { v.once.Do(v.close) }

func (v *View) close() {
	v.data = nil
	v.s.views.Add(-1)
}

func encodeSnapshot(data map[string][]byte) []byte {
	t := newTable(false)
	for k, v := range data {
		loc, ok := t.find([]byte(k))
		t.put([]byte(k), loc, ok, v, true)
	}
	return t.frozenCopy().appendSnapshot(nil)
}

func uvarintLen(n int) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

// Restore replaces the store's contents with a snapshot's.
func (s *Store) Restore(snap []byte) error {
	return s.RestoreFrom(bytes.NewReader(snap))
}

// RestoreFrom replaces the store's contents with the snapshot read from
// r, streaming: only one record is held outside the store at a time. On
// an error the store is left as it was.
func (s *Store) RestoreFrom(r io.Reader) error {
	br, ok := r.(byteReader)
	if !ok {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	var magic [len(snapshotMagic)]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || string(magic[:]) != snapshotMagic && string(magic[:]) != imageMagic {
		return fmt.Errorf("%w: snapshot magic", ErrMalformed)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return fmt.Errorf("%w: snapshot key count", ErrMalformed)
	}
	t := newTable(s.opts.HugePages)
	if string(magic[:]) == imageMagic {
		err = restoreImage(br, &t, n)
	} else {
		err = restorePairs(br, &t, n)
	}
	if err != nil {
		return err
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: trailing snapshot bytes", ErrMalformed)
	}
	s.mu.Lock()
	s.t = t
	s.mu.Unlock()
	return nil
}

// restoreRecord adds a snapshot's record to the table being restored
// (copied into the slabs); a key listed twice is refused.
func (t *table) restoreRecord(key, val []byte) error {
	loc, ok := t.find(key)
	if ok {
		return fmt.Errorf("%w: snapshot key %q twice", ErrMalformed, key)
	}
	t.put(key, loc, ok, val, true)
	return nil
}

// restorePairs reads n key/value pairs of an RBKV1 snapshot (after its
// magic and count) from r into t.
func restorePairs(br byteReader, t *table, n uint64) error {
	var key, val []byte
	var err error
	for i := uint64(0); i < n; i++ {
		if key, err = readField(br, key, MaxKeyBytes); err != nil {
			return fmt.Errorf("snapshot key %d: %w", i, err)
		}
		if val, err = readField(br, val, MaxValueBytes); err != nil {
			return fmt.Errorf("snapshot value %d: %w", i, err)
		}
		if err := t.restoreRecord(key, val); err != nil {
			return err
		}
	}
	return nil
}

type byteReader interface {
	io.Reader
	io.ByteReader
}

// readField reads one length-prefixed field into buf (reused), with the
// same rules as readBytes.
func readField(r byteReader, buf []byte, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return buf, fmt.Errorf("%w: bad length prefix", ErrMalformed)
	}
	if n > limit {
		return buf, fmt.Errorf("%w: length %d exceeds limit", ErrMalformed, n)
	}
	return readN(r, buf, n)
}
