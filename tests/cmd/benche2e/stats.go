package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// percentile returns the p-th percentile (0..100) of ds by the nearest-rank method, or 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// ms is d in milliseconds, as a BENCH figure.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// bench prints one figure in the form runs are compared by: BENCH <name> <value> <unit>.
func bench(name string, value float64, unit string) {
	fmt.Printf("BENCH e2e/%s %s %s\n", name, strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", value), "0"), "."), unit)
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// describe summarizes durations: "p50 4.2ms, p99 9.1ms, max 9.3ms (n=95)".
func describe(ds []time.Duration) string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s (n=%d)", round(percentile(ds, 50)), round(percentile(ds, 99)),
		round(percentile(ds, 100)), len(ds))
}

// round rounds d for reading: to 0.1 ms below a second, to a millisecond above.
func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
