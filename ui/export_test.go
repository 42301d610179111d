package ui

import "context"

// SampleOnce takes one sample now (for benchmarks in package ui_test).
func SampleOnce(l *Live) { l.sampleOnce(context.Background()) }
