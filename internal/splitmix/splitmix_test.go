package splitmix_test

import (
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/splitmix"
)

// The first outputs of splitmix64 from seed 0 and seed 1234567, as published
// with the reference implementation (and every other port of it).
func TestKnownOutputs(t *testing.T) {
	tests := []struct {
		seed uint64
		want []uint64
	}{
		{0, []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f}},
		{1234567, []uint64{6457827717110365317, 3203168211198807973, 9817491932198370423}},
	}
	for _, tc := range tests {
		s := splitmix.New(tc.seed)
		for i, want := range tc.want {
			if got := s.Next(); got != want {
				t.Errorf("seed %d output %d: %#x, want %#x", tc.seed, i, got, want)
			}
		}
	}
}
