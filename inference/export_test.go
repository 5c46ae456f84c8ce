package inference

import "context"

// Hooks for package inference_test: the unexported parts its tests check.

const MaxManifestBytes = maxManifestBytes

var (
	Quantile = quantile
	RangeOK  = rangeOK
)

func (m Manifest) Clone() Manifest { return m.clone() }

// HoldWorker borrows a worker as a request does and returns its release.
func (m *Model) HoldWorker(ctx context.Context, wait bool) (release func(), err error) {
	w, err := m.acquire(ctx, wait)
	if err != nil {
		return nil, err
	}
	return func() { m.release(w) }, nil
}

// Waiting is how many requests wait for a worker.
func (m *Model) Waiting() int { return len(m.slots) }

// Bare is a model with m's manifest and no graphs but, when segFile is not
// "", a segmenter stage of that file without sessions.
func (m *Model) Bare(segFile string) *Model {
	b := &Model{manifest: m.manifest}
	if segFile != "" {
		b.seg = &stage{file: segFile}
	}
	return b
}

// BareModel is a model of manifest man without graphs.
func BareModel(man Manifest) *Model { return &Model{manifest: man} }
