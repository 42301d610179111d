package bench

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Limits on run parameters, so a typo cannot ask for a terabyte of keys
// or a million goroutines.
const (
	MaxClients    = 100_000
	MaxWorkers    = 100_000
	MaxKeys       = 10_000_000
	MaxValueBytes = 1 << 20
	MaxRate       = 10_000_000
	// DefaultOpenLoopWorkers bounds how many requests an open-loop run has
	// in flight at once. When all are busy the schedule keeps running:
	// the next request goes out late and its latency still counts from
	// its intended time.
	DefaultOpenLoopWorkers = 256
	// DefaultZipfTheta is YCSB's skew for its "zipfian" distribution.
	DefaultZipfTheta = 0.99
)

// Key distributions.
const (
	DistUniform = "uniform"
	DistZipfian = "zipfian"
)

// RunConfig describes one load-generator run. The zero value is not
// valid; use DefaultRunConfig and override.
type RunConfig struct {
	// Clients > 0 selects the closed loop: that many workers, each sending
	// its next request when the last one answered.
	Clients int
	// Rate > 0 selects the open loop: Rate requests per second on a fixed
	// schedule; latency counts from each request's intended send time.
	Rate float64
	// Workers bounds in-flight requests in the open loop (0 = default).
	Workers int

	Mix        Mix
	ValueBytes int
	Keys       int
	KeyDist    string
	ZipfTheta  float64 // zipfian skew in (0,1); 0 = DefaultZipfTheta
	Warmup     time.Duration
	Duration   time.Duration
	Seed       uint64
	// Drain is how long in-flight requests may take to finish after the
	// end of the run before they are cancelled and counted as
	// "unfinished" errors (0 = 10 s).
	Drain time.Duration

	// Nodes and Fsync describe the target for the summary; the driver
	// does not act on them.
	Nodes int
	Fsync bool

	// Metrics, when non-nil, is updated once a second. Make it once
	// with NewMetrics and share it across the runs of a sweep.
	Metrics *Metrics
}

// DefaultRunConfig is `make bench`'s load without the target: 64 clients,
// 128-byte values, 100k uniform keys, half writes.
func DefaultRunConfig() RunConfig {
	return RunConfig{
		Clients:    64,
		Mix:        Mix{Write: 0.5, Read: 0.4, Cas: 0.1},
		ValueBytes: 128,
		Keys:       100_000,
		KeyDist:    DistUniform,
		Warmup:     3 * time.Second,
		Duration:   30 * time.Second,
		Seed:       1,
		Nodes:      3,
		Fsync:      true,
	}
}

// OpenLoop reports whether the run uses a fixed request rate.
func (c *RunConfig) OpenLoop() bool { return c.Rate > 0 }

// workers is the number of goroutines sending requests.
func (c *RunConfig) workers() int {
	if c.OpenLoop() {
		if c.Workers > 0 {
			return c.Workers
		}
		return DefaultOpenLoopWorkers
	}
	return c.Clients
}

func (c *RunConfig) drain() time.Duration {
	if c.Drain > 0 {
		return c.Drain
	}
	return 10 * time.Second
}

func (c *RunConfig) theta() float64 {
	if c.ZipfTheta > 0 {
		return c.ZipfTheta
	}
	return DefaultZipfTheta
}

// Validate returns a clear error for the first bad setting.
func (c *RunConfig) Validate() error {
	switch {
	case c.Clients > 0 && c.Rate > 0:
		return errors.New("set either clients (closed loop) or rate (open loop), not both")
	case c.Clients <= 0 && c.Rate <= 0:
		return errors.New("set clients > 0 (closed loop) or rate > 0 (open loop)")
	case c.Clients > MaxClients:
		return fmt.Errorf("clients %d exceeds the limit %d", c.Clients, MaxClients)
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate > MaxRate:
		return fmt.Errorf("rate %v must be a finite number <= %d", c.Rate, MaxRate)
	case c.Workers < 0 || c.Workers > MaxWorkers:
		return fmt.Errorf("workers %d must be in [0, %d]", c.Workers, MaxWorkers)
	case c.Workers > 0 && !c.OpenLoop():
		return errors.New("workers applies to the open loop (rate) only; use clients for the closed loop")
	case c.ValueBytes < 1 || c.ValueBytes > MaxValueBytes:
		return fmt.Errorf("value bytes %d must be in [1, %d]", c.ValueBytes, MaxValueBytes)
	case c.Keys < 1 || c.Keys > MaxKeys:
		return fmt.Errorf("keys %d must be in [1, %d]", c.Keys, MaxKeys)
	case c.KeyDist != DistUniform && c.KeyDist != DistZipfian:
		return fmt.Errorf("unknown key distribution %q (want %s or %s)", c.KeyDist, DistUniform, DistZipfian)
	case c.ZipfTheta < 0 || c.ZipfTheta >= 1:
		return fmt.Errorf("zipf theta %v must be in (0, 1)", c.ZipfTheta)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v must be positive", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %v must not be negative", c.Warmup)
	case c.Drain < 0:
		return fmt.Errorf("drain %v must not be negative", c.Drain)
	}
	return c.Mix.validate()
}

// Mix is the relative weight of each operation. Weights need not sum
// to 1; they are normalised.
type Mix struct {
	Write, Read, Cas float64
}

// ParseMix parses "write=0.5,read=0.4,cas=0.1". Omitted operations get
// weight 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[string]bool{}
	if strings.TrimSpace(s) == "" {
		return m, errors.New("empty mix (want e.g. write=0.5,read=0.4,cas=0.1)")
	}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return m, fmt.Errorf("mix entry %q: want op=weight", part)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		w, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || math.IsNaN(w) || math.IsInf(w, 0) {
			return m, fmt.Errorf("mix entry %q: weight is not a finite number", part)
		}
		if w < 0 {
			return m, fmt.Errorf("mix entry %q: negative weight", part)
		}
		if seen[name] {
			return m, fmt.Errorf("mix: operation %q given twice", name)
		}
		seen[name] = true
		switch name {
		case "write":
			m.Write = w
		case "read":
			m.Read = w
		case "cas":
			m.Cas = w
		default:
			return m, fmt.Errorf("mix: unknown operation %q (known: write, read, cas)", name)
		}
	}
	return m, m.validate()
}

func (m Mix) validate() error {
	if m.Write < 0 || m.Read < 0 || m.Cas < 0 {
		return errors.New("mix weights must not be negative")
	}
	if !(m.Write+m.Read+m.Cas > 0) {
		return errors.New("mix weights must sum to more than 0")
	}
	return nil
}

// String renders the mix normalised, e.g. "write=0.5,read=0.4,cas=0.1".
func (m Mix) String() string {
	f := m.fractions()
	return fmt.Sprintf("write=%g,read=%g,cas=%g", round3(f[0]), round3(f[1]), round3(f[2]))
}

// fractions returns write, read, cas weights normalised to sum to 1.
func (m Mix) fractions() [3]float64 {
	sum := m.Write + m.Read + m.Cas
	if sum <= 0 {
		return [3]float64{}
	}
	return [3]float64{m.Write / sum, m.Read / sum, m.Cas / sum}
}

// opOrder maps a mix slot to its kv operation.
var opOrder = [3]kv.Op{kv.OpWrite, kv.OpRead, kv.OpCas}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
