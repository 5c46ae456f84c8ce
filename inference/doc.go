// Package inference runs a GANPaint-Go model (docs/model-format.md) on the CPU
// with ONNX Runtime and edits its activations.
//
// A model is a chain of generator blocks; painting at a layer only re-runs the
// blocks after it. The usual flow for an interactive stroke is:
//
//	z, _ := m.Z(id)
//	feat, _ := m.Head(ctx, "layer4", z, 1)            // once per image
//	_ = inference.ApplyEdits(edited, feat, edits, levels, inference.PoolMax)
//	img, _ := m.Tail(ctx, edited)                      // once per stroke
//	_ = inference.EncodeJPEG(w, img.RGBA(0, m.Manifest().Image.Range), 90)
//
// Model is safe for concurrent use: every call borrows one of a fixed number of
// workers, each owning its own ONNX Runtime sessions, and fails fast with
// ErrBusy when too many calls are already waiting. Interventions, encoding and
// the z rule are pure Go and need no ONNX Runtime.
package inference
