package engine

// splitmix64 is the core's private PRNG (Steele, Lea & Flood, "Fast
// splittable pseudorandom number generators"). It exists so election
// jitter is reproducible from Config.Seed and the core never touches
// global randomness.
type splitmix64 struct{ state uint64 }

// newSplitmix mixes the node ID into the seed so nodes given the same
// seed still draw different election timeouts (otherwise they would split
// votes forever, §5.2).
func newSplitmix(seed, id uint64) splitmix64 {
	return splitmix64{state: seed ^ (id * 0x9e3779b97f4a7c15)}
}

func (s *splitmix64) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n); n must be positive. The modulo bias is
// negligible for election-timeout ranges.
func (s *splitmix64) intn(n int) int { return int(s.next() % uint64(n)) }
