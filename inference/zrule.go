package inference

import (
	"fmt"
	"math"

	"github.com/ganpaint-go/ganpaint/internal/splitmix"
)

// ZForID fills dst with the latent vector of image id under the
// splitmix64-boxmuller-v1 rule (docs/model-format.md). It uses only integer
// arithmetic plus one sqrt/log/cos per value in float64, rounded once to
// float32, so Go and training/zrule.py agree bit for bit. The id range is
// the caller's business (see Model.Z).
func ZForID(dst []float32, id int64, seed uint64) {
	// One splitmix64 step hashes (seed, id) into the stream's start, so the
	// streams of nearby ids are unrelated (a plain id*gamma offset makes them
	// shifted copies of one another).
	rng := splitmix.New(seed ^ uint64(id))
	rng.State = rng.Next()
	for i := range dst {
		a, b := rng.Next(), rng.Next()
		u1 := float64((a>>11)+1) * 0x1p-53
		u2 := float64(b>>11) * 0x1p-53
		dst[i] = float32(math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2))
	}
}

// Z returns the latent vector of image id (length Manifest().Z.Size).
func (m *Model) Z(id int64) ([]float32, error) {
	z := make([]float32, m.manifest.Z.Size)
	if err := m.ZInto(z, id); err != nil {
		return nil, err
	}
	return z, nil
}

// ZInto writes the latent vector of id into dst, which must have length
// Manifest().Z.Size.
func (m *Model) ZInto(dst []float32, id int64) error {
	if id < 0 || id >= m.manifest.Z.MaxID {
		return fmt.Errorf("%w: id %d, valid ids are 0..%d", ErrIDOutOfRange, id, m.manifest.Z.MaxID-1)
	}
	if len(dst) != m.manifest.Z.Size {
		return fmt.Errorf("%w: z buffer has %d values, model wants %d", ErrBadShape, len(dst), m.manifest.Z.Size)
	}
	ZForID(dst, id, m.manifest.Z.Seed)
	return nil
}

// ZBatch returns the latent vectors of ids, concatenated ([len(ids), z.size]),
// ready for Head or Generate with n = len(ids).
func (m *Model) ZBatch(ids []int64) ([]float32, error) {
	size := m.manifest.Z.Size
	out := make([]float32, len(ids)*size)
	for i, id := range ids {
		if err := m.ZInto(out[i*size:(i+1)*size], id); err != nil {
			return nil, err
		}
	}
	return out, nil
}
