package bench

import (
	"math"
	"testing"
)

func TestFormatCount(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0", 999: "999", 1000: "1,000", 1234567.6: "1,234,568", -41203: "-41,203", math.Inf(1): "+Inf",
	} {
		if got := FormatCount(in); got != want {
			t.Errorf("FormatCount(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatMs(t *testing.T) {
	for in, want := range map[float64]string{0.1234: "0.123", 1.2: "1.20", 16.14: "16.1", 123.4: "123"} {
		if got := FormatMs(in); got != want {
			t.Errorf("FormatMs(%v) = %q, want %q", in, got, want)
		}
	}
}
