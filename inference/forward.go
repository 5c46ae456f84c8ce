package inference

import (
	"context"
	"fmt"
)

// ForwardInto runs the generator blocks after f's layer up to and including
// layer to, writing to's activations into dst (reusing dst.Data when it is
// big enough). It lets an edit list hold edits at several layers: edit at
// one layer, run forward to the next, edit there, and finish with Tail. A
// layer before f's is an error (its activations cannot be recovered).
func (m *Model) ForwardInto(ctx context.Context, dst, f *Features, to string) error {
	li, err := m.checkFeatures(f)
	if err != nil {
		return err
	}
	target, err := m.Layer(to)
	if err != nil {
		return err
	}
	if dst == nil {
		return fmt.Errorf("%w: nil destination", ErrBadShape)
	}
	if target.Index < li.Index {
		return fmt.Errorf("%w: cannot run from %s back to %s", ErrUnknownLayer, li.Name, to)
	}
	if target.Index == li.Index {
		data := grow(dst.Data, len(f.Data))
		copy(data, f.Data)
		dst.Layer, dst.N, dst.Data = target, f.N, data
		return nil
	}
	w, err := m.acquire(ctx, false)
	if err != nil {
		return err
	}
	defer m.release(w)
	out := grow(dst.Data, f.N*target.Size())
	if err := m.runChain(ctx, w, li.Index+1, target.Index, f.N, f.Data, out, nil); err != nil {
		return err
	}
	dst.Layer, dst.N, dst.Data = target, f.N, out
	return nil
}
