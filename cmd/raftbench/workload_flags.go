package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/raftbench/raftbench/bench"
)

// workloadFlags are the load-shape flags run, sweep and compare share:
// --workload, --mix, --distribution, --theta (--key-dist and
// --zipf-theta are older spellings of these two), --value-dist and
// --preload.
type workloadFlags struct {
	workload string
	mix      string
	dist     string
	theta    float64
	values   string
	preload  bool
	fs       *pflag.FlagSet
}

func (w *workloadFlags) register(fs *pflag.FlagSet) {
	w.fs = fs
	d := bench.DefaultRunConfig()
	fs.StringVar(&w.workload, "workload", "", "standard workload: "+strings.Join(bench.WorkloadNames(), ", ")+
		" (a-f: YCSB's core workloads with a load phase; default: --mix with --distribution); compare takes a comma-separated list and writes each to OUT/<workload>/")
	fs.StringVar(&w.mix, "mix", d.Mix.String(), "operation weights: write=W,read=R,cas=C[,insert=I,rmw=M] (not with --workload)")
	fs.StringVar(&w.dist, "distribution", d.KeyDist, "key distribution: "+strings.Join(bench.Distributions, ", ")+" (overrides the workload's)")
	fs.StringVar(&w.values, "value-dist", "fixed", "value size distribution: fixed (--value-bytes), uniform:MIN-MAX, or hist:SIZE:WEIGHT,... (recorded in summary.json)")
	fs.Float64Var(&w.theta, "theta", bench.DefaultZipfTheta, "zipfian skew in (0, 1), for the zipfian and latest distributions")
	fs.BoolVar(&w.preload, "preload", false, "write every key once before the warm-up (YCSB's load phase, not measured), so the run starts with the whole key space in the state rather than filling it; the YCSB workloads a-f always do")
	prev := fs.GetNormalizeFunc()
	fs.SetNormalizeFunc(func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		switch name {
		case "key-dist":
			name = "distribution"
		case "zipf-theta":
			name = "theta"
		}
		return prev(f, name)
	})
}

// apply sets cfg's workload from the flags, or says clearly what is wrong.
func (w *workloadFlags) apply(cfg *bench.RunConfig) error {
	vs, err := bench.ParseValueSizes(w.values)
	if err != nil {
		return usageError("--value-dist: %v", err)
	}
	cfg.ValueSizes = vs
	if w.fs.Changed("workload") {
		p, err := bench.LookupWorkload(w.workload)
		if err != nil {
			return usageError("--workload: %v", err)
		}
		if w.fs.Changed("mix") {
			return usageError("--mix and --workload %s are both set: a workload fixes the mix (use --mix alone for a custom one)", p.Name)
		}
		p.Apply(cfg)
	} else {
		mix, err := bench.ParseMix(w.mix)
		if err != nil {
			return usageError("--mix: %v", err)
		}
		cfg.Mix, cfg.Workload = mix, bench.WorkloadDefault
		if mix.String() != bench.DefaultRunConfig().Mix.String() {
			cfg.Workload = bench.WorkloadCustom
		}
		cfg.KeyDist = w.dist
	}
	if w.fs.Changed("distribution") {
		cfg.KeyDist = w.dist
	}
	if w.fs.Changed("preload") {
		if !w.preload && cfg.Preload {
			return usageError("--preload=false: workload %s needs its load phase (its reads and updates expect every record to exist)", cfg.Workload)
		}
		cfg.Preload = w.preload
	}
	found := false
	for _, d := range bench.Distributions {
		found = found || d == cfg.KeyDist
	}
	if !found {
		return usageError("--distribution: unknown key distribution %q (known: %s)", cfg.KeyDist, strings.Join(bench.Distributions, ", "))
	}
	if w.fs.Changed("theta") {
		if cfg.KeyDist == bench.DistUniform {
			return usageError("--theta %v needs --distribution zipfian or latest (the key distribution is uniform)", w.theta)
		}
		if !(w.theta > 0 && w.theta < 1) {
			return usageError("--theta %v out of range: the zipfian skew must be in (0, 1) (YCSB's default is %v)", w.theta, bench.DefaultZipfTheta)
		}
		cfg.ZipfTheta = w.theta
	}
	if cfg.Workload != bench.WorkloadCustom && cfg.Workload != "" && cfg.KeyDist != presetDist(cfg.Workload) {
		// The preset with another distribution: say so in the name.
		cfg.Workload = fmt.Sprintf("%s/%s", cfg.Workload, cfg.KeyDist)
	}
	return nil
}

func presetDist(name string) string {
	p, err := bench.LookupWorkload(name)
	if err != nil {
		return ""
	}
	return p.KeyDist
}
