package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// ValueSizes is the distribution of written value sizes:
//
//	fixed                       every value is RunConfig.ValueBytes
//	uniform:MIN-MAX             uniform in [MIN, MAX] bytes
//	hist:SIZE:WEIGHT,...        SIZE bytes with probability WEIGHT/sum
//
// Parse it with ParseValueSizes; the zero value is "fixed".
type ValueSizes struct {
	Kind    string    `json:"kind"` // "fixed", "uniform" or "hist"
	Min     int       `json:"min,omitempty"`
	Max     int       `json:"max,omitempty"`
	Sizes   []int     `json:"sizes,omitempty"`
	Weights []float64 `json:"weights,omitempty"`
	cum     []float64
}

// ParseValueSizes parses a --value-dist specification (see ValueSizes).
func ParseValueSizes(spec string) (ValueSizes, error) {
	bad := func(f string, a ...any) (ValueSizes, error) {
		return ValueSizes{}, fmt.Errorf("value size distribution %q: %s (want fixed, uniform:MIN-MAX or hist:SIZE:WEIGHT,...)", spec, fmt.Sprintf(f, a...))
	}
	kind, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	switch kind {
	case "", "fixed":
		if rest != "" {
			return bad("fixed takes no arguments")
		}
		return ValueSizes{Kind: "fixed"}, nil
	case "uniform":
		lo, hi, ok := strings.Cut(rest, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if !ok || err1 != nil || err2 != nil {
			return bad("uniform needs MIN-MAX")
		}
		if a < 1 || b < a || b > MaxValueBytes {
			return bad("need 1 <= MIN <= MAX <= %d", MaxValueBytes)
		}
		return ValueSizes{Kind: "uniform", Min: a, Max: b}, nil
	case "hist":
		v := ValueSizes{Kind: "hist"}
		var sum float64
		for _, part := range strings.Split(rest, ",") {
			s, w, ok := strings.Cut(part, ":")
			size, err1 := strconv.Atoi(s)
			weight, err2 := strconv.ParseFloat(w, 64)
			if !ok || err1 != nil || err2 != nil {
				return bad("bucket %q: want SIZE:WEIGHT", part)
			}
			if size < 1 || size > MaxValueBytes || !(weight > 0) || weight > 1e9 {
				return bad("bucket %q: size must be in [1, %d], weight positive", part, MaxValueBytes)
			}
			v.Sizes, v.Weights = append(v.Sizes, size), append(v.Weights, weight)
			sum += weight
		}
		acc := 0.0
		for _, w := range v.Weights {
			acc += w / sum
			v.cum = append(v.cum, acc)
		}
		v.cum[len(v.cum)-1] = 1
		return v, nil
	}
	return bad("unknown kind %q", kind)
}

// String is the specification ParseValueSizes accepts.
func (v ValueSizes) String() string {
	switch v.Kind {
	case "uniform":
		return fmt.Sprintf("uniform:%d-%d", v.Min, v.Max)
	case "hist":
		parts := make([]string, len(v.Sizes))
		for i := range v.Sizes {
			parts[i] = fmt.Sprintf("%d:%g", v.Sizes[i], v.Weights[i])
		}
		return "hist:" + strings.Join(parts, ",")
	}
	return "fixed"
}

// maxSize is the largest value drawn when the fixed size is fixed.
func (v *ValueSizes) maxSize(fixed int) int {
	switch v.Kind {
	case "uniform":
		return v.Max
	case "hist":
		m := 0
		for _, s := range v.Sizes {
			m = max(m, s)
		}
		return m
	}
	return fixed
}

// draw returns one value size.
func (v *ValueSizes) draw(rng *rand.Rand, fixed int) int {
	switch v.Kind {
	case "uniform":
		return v.Min + rng.IntN(v.Max-v.Min+1)
	case "hist":
		u := rng.Float64()
		for i, c := range v.cum {
			if u < c {
				return v.Sizes[i]
			}
		}
		return v.Sizes[len(v.Sizes)-1]
	}
	return fixed
}
