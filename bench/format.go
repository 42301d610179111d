package bench

import (
	"math"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

// FormatCount renders a count with thousands separators: 12,345. It and
// FormatMs are exported so that bench/report's tables, plots and
// progress lines print figures exactly as summaries and sweep lines do.
func FormatCount(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	neg := f < 0
	s := strconv.FormatInt(int64(math.Abs(math.Round(f))), 10)
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// FormatMs renders milliseconds with about three significant digits.
func FormatMs(ms float64) string {
	switch {
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	case ms >= 1:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	}
	return strconv.FormatFloat(ms, 'f', 3, 64)
}
