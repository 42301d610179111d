package bench

import (
	"fmt"
	"sort"
	"strings"
)

// Workload names that are not presets.
const (
	// WorkloadDefault is `make bench`'s load (DefaultRunConfig): half
	// writes, 40% reads, 10% cas, uniform keys, no load phase.
	WorkloadDefault = "default"
	// WorkloadCustom marks a load given by --mix rather than a preset.
	WorkloadCustom = "custom"
)

// Preset is a named standard workload. The YCSB presets follow the core
// workloads of YCSB (Cooper et al., SoCC 2010; the workloads/workload[a-f]
// files of the YCSB distribution) on this KV's operations: an update is
// a kv write of a whole value, an insert a write to a key never written,
// a read-modify-write a read followed by a cas from the value read (so a
// concurrent update makes it fail with a mismatch instead of being lost).
// Workload E (short range scans) has no counterpart: the KV has no scans.
type Preset struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Mix         Mix     `json:"-"`
	KeyDist     string  `json:"distribution"`
	Theta       float64 `json:"theta,omitempty"` // zipfian and latest; 0 = DefaultZipfTheta
	// Preload: YCSB's load phase writes every record once before the run.
	Preload bool `json:"preload"`
}

var presets = map[string]Preset{
	WorkloadDefault: {Name: WorkloadDefault, Description: "write 50% / read 40% / cas 10%, uniform keys, no load phase (make bench)",
		Mix: Mix{Write: 0.5, Read: 0.4, Cas: 0.1}, KeyDist: DistUniform},
	"write-only": {Name: "write-only", Description: "writes only, uniform keys, no load phase",
		Mix: Mix{Write: 1}, KeyDist: DistUniform},
	"a": {Name: "a", Description: "YCSB A, update heavy: read 50% / update 50%, zipfian",
		Mix: Mix{Read: 0.5, Write: 0.5}, KeyDist: DistZipfian, Preload: true},
	"b": {Name: "b", Description: "YCSB B, read mostly: read 95% / update 5%, zipfian",
		Mix: Mix{Read: 0.95, Write: 0.05}, KeyDist: DistZipfian, Preload: true},
	"c": {Name: "c", Description: "YCSB C, read only: read 100%, zipfian",
		Mix: Mix{Read: 1}, KeyDist: DistZipfian, Preload: true},
	"d": {Name: "d", Description: "YCSB D, read latest: read 95% / insert 5%, latest",
		Mix: Mix{Read: 0.95, Insert: 0.05}, KeyDist: DistLatest, Preload: true},
	"f": {Name: "f", Description: "YCSB F, read-modify-write: read 50% / read-modify-write (read, then cas) 50%, zipfian",
		Mix: Mix{Read: 0.5, RMW: 0.5}, KeyDist: DistZipfian, Preload: true},
}

// WorkloadNames lists the presets, sorted.
func WorkloadNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupWorkload returns the preset called name (case-insensitive; "A"
// and "ycsb-a" both name YCSB A), or an error listing the presets.
func LookupWorkload(name string) (Preset, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "ycsb-")
	if p, ok := presets[n]; ok {
		return p, nil
	}
	return Preset{}, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(WorkloadNames(), ", "))
}

// Apply sets cfg's load to the preset's: name, mix, key distribution,
// theta and load phase. Keys, values, clients and times stay.
func (p Preset) Apply(cfg *RunConfig) {
	cfg.Workload, cfg.Mix, cfg.KeyDist, cfg.ZipfTheta, cfg.Preload = p.Name, p.Mix, p.KeyDist, p.Theta, p.Preload
}

// WorkloadInfo is the full description of a run's load in summary.json:
// enough to run it again.
type WorkloadInfo struct {
	Name string `json:"name"`
	// Mix is the normalised string form; Fractions the same by name.
	Mix          string             `json:"mix"`
	Fractions    map[string]float64 `json:"fractions"`
	Distribution string             `json:"distribution"`
	// Theta is the zipfian skew (zipfian and latest only).
	Theta      float64 `json:"theta,omitempty"`
	Keys       int     `json:"keys"`
	KeyBytes   int     `json:"key_bytes"`
	ValueBytes int     `json:"value_bytes"`
	// ValueSizes is the value size distribution ("fixed": ValueBytes).
	ValueSizes ValueSizes `json:"value_sizes"`
	Preload    bool       `json:"preload"`
	Seed       uint64     `json:"seed"`
}

// Info describes cfg's load.
func (c *RunConfig) Info() WorkloadInfo {
	w := WorkloadInfo{
		Name: c.Workload, Mix: c.Mix.String(), Fractions: c.Mix.Fractions(), Distribution: c.KeyDist,
		Keys: c.Keys, KeyBytes: KeyBytes, ValueBytes: c.ValueBytes, Preload: c.Preload, Seed: c.Seed,
		ValueSizes: c.ValueSizes,
	}
	if w.ValueSizes.Kind == "" {
		w.ValueSizes.Kind = "fixed"
	}
	if w.Name == "" {
		w.Name = WorkloadCustom
	}
	if c.KeyDist != DistUniform {
		w.Theta = c.theta()
	}
	return w
}
