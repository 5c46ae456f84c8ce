// Package splitmix is the splitmix64 generator (Steele, Lea and Flood 2014)
// that the project's reproducible streams share: the latent rule
// (docs/model-format.md, mirrored by training/zrule.py), the dissection's
// sample ids and the efficacy benchmark's draws. Changing it changes every
// committed result, so it is pinned by a test of the published outputs.
package splitmix

// Gamma is the stream's increment, 2^64 divided by the golden ratio.
const Gamma = 0x9E3779B97F4A7C15

// Stream is a splitmix64 stream. The zero value starts at state 0.
type Stream struct{ State uint64 }

// New starts a stream at seed.
func New(seed uint64) *Stream { return &Stream{State: seed} }

// Next advances the stream and returns its next value.
func (s *Stream) Next() uint64 {
	s.State += Gamma
	return Mix(s.State)
}

// Mix is splitmix64's output function: a bijective 64-bit hash.
func Mix(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}
