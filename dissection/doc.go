// Package dissection finds what each generator unit draws, after GAN
// Dissection (Bau et al. 2018): it generates images, segments them with the
// model's segmenter, and measures for every unit and class the IoU between
// "unit above its threshold" (activations upsampled to the segmentation) and
// "pixel of that class", summed over all images. From that it derives each
// unit's label, per-class rankings of units (what the painter switches on
// for a concept), per-unit "add" levels, and — by editing activations and
// re-segmenting — the causal effect of a class's top units.
//
// Two passes keep memory independent of the sample count: pass 1 runs only
// the generator head and feeds per-unit quantile sketches; pass 2 generates
// and segments, and counts pixels per unit and class against the thresholds
// from pass 1. Inference calls are pipelined (Config.InFlight) and counting is
// split over units across a bounded pool (Config.Workers); results do not
// depend on either. The file format is docs/dissection-format.md.
package dissection
