package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits on run parameters, so a typo cannot ask for a terabyte of keys
// or a million goroutines.
const (
	MaxClients    = 100_000
	MaxWorkers    = 100_000
	MaxKeys       = 100_000_000
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
	// DistZipfian: key i drawn with probability about proportional to
	// 1/(i+1)^theta (YCSB's zipfian; see zipf).
	DistZipfian = "zipfian"
	// DistLatest: the newest key minus a zipfian rank (YCSB's latest), so
	// recent inserts are the most read.
	DistLatest = "latest"
)

// Distributions lists the key distributions, for flags and errors.
var Distributions = []string{DistUniform, DistZipfian, DistLatest}

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

	// Workload names the preset the load came from (Workloads), or
	// WorkloadDefault / WorkloadCustom; it is recorded, not acted on:
	// Mix, KeyDist, ZipfTheta and Preload say what runs.
	Workload   string
	Mix        Mix
	ValueBytes int
	// ValueSizes, when not fixed, draws each written value's size
	// (ValueBytes is then unused); the zero value is fixed.
	ValueSizes ValueSizes
	Keys       int
	KeyDist    string
	ZipfTheta  float64 // zipfian and latest skew in (0,1); 0 = DefaultZipfTheta
	// Preload writes every key 0..Keys-1 once before the warm-up (YCSB's
	// load phase), so reads find records; not measured.
	Preload bool
	// AfterPreload, when set, is called once before the warm-up starts,
	// after the preload if there is one; an error ends the run.
	// `raftbench run` starts its CPU profile and execution trace there,
	// so that a preloaded run's profile covers the load it measures and
	// not the writing of every key (at a million keys, half the
	// profile).
	AfterPreload func() error
	// Observer, when set, sees every finished operation (the failover
	// measurement's per-operation record).
	Observer Observer
	// History, when set, records the operations on a sample of keys
	// (see HistoryConfig) for a linearizability check.
	History  *HistoryConfig
	Warmup   time.Duration
	Duration time.Duration
	Seed     uint64
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
		Workload:   WorkloadDefault,
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
	case !slices.Contains(Distributions, c.KeyDist):
		return fmt.Errorf("unknown key distribution %q (known: %s)", c.KeyDist, strings.Join(Distributions, ", "))
	case math.IsNaN(c.ZipfTheta) || c.ZipfTheta < 0 || c.ZipfTheta >= 1:
		return fmt.Errorf("zipf theta %v must be in (0, 1): the zipfian generator (Gray et al.) needs theta < 1", c.ZipfTheta)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v must be positive", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %v must not be negative", c.Warmup)
	case c.Drain < 0:
		return fmt.Errorf("drain %v must not be negative", c.Drain)
	}
	if err := c.Mix.validate(); err != nil {
		return err
	}
	if c.History != nil {
		return c.History.validate()
	}
	return nil
}

// Mix is the relative weight of each operation. Weights need not sum
// to 1; they are normalised. Write updates a key of the key space, Insert
// writes a new key beyond it, RMW reads a key and then cas-es it from the
// value read.
type Mix struct {
	Write, Read, Cas, Insert, RMW float64
}

// ParseMix parses "write=0.5,read=0.4,cas=0.1" (operations: write, read,
// cas, insert, rmw). Omitted operations get weight 0.
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
		case "insert":
			m.Insert = w
		case "rmw":
			m.RMW = w
		default:
			return m, fmt.Errorf("mix: unknown operation %q (known: %s)", name, strings.Join(opNames[:], ", "))
		}
	}
	return m, m.validate()
}

func (m Mix) weights() [numOps]float64 {
	return [numOps]float64{m.Write, m.Read, m.Cas, m.Insert, m.RMW}
}

func (m Mix) validate() error {
	sum := 0.0
	for _, w := range m.weights() {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return errors.New("mix weights must be finite and not negative")
		}
		sum += w
	}
	if !(sum > 0) {
		return errors.New("mix weights must sum to more than 0")
	}
	return nil
}

// String renders the mix normalised, e.g. "write=0.5,read=0.4,cas=0.1";
// insert and rmw appear only when they have weight.
func (m Mix) String() string {
	f := m.fractions()
	s := fmt.Sprintf("write=%g,read=%g,cas=%g", round3(f[0]), round3(f[1]), round3(f[2]))
	for i := opInsert; i < numOps; i++ {
		if f[i] > 0 {
			s += fmt.Sprintf(",%s=%g", opNames[i], round3(f[i]))
		}
	}
	return s
}

// Fractions returns each operation's share of the draws (normalised to
// sum to 1), keyed by name; operations without weight are left out.
func (m Mix) Fractions() map[string]float64 {
	out := map[string]float64{}
	for i, f := range m.fractions() {
		if f > 0 {
			out[opNames[i]] = f
		}
	}
	return out
}

// WriteShare is the fraction of operations that append to the log: a
// write, cas or insert is one entry, a read-modify-write one (its cas)
// beside a read.
func (m Mix) WriteShare() float64 {
	f := m.fractions()
	return f[opWrite] + f[opCas] + f[opInsert] + f[opRMW]
}

// fractions returns the weights normalised to sum to 1, in slot order.
func (m Mix) fractions() [numOps]float64 {
	w := m.weights()
	sum := 0.0
	for _, v := range w {
		sum += v
	}
	if sum <= 0 {
		return [numOps]float64{}
	}
	for i := range w {
		w[i] /= sum
	}
	return w
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
