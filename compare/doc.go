// Package compare sets the GAN's object removal beside inpainting: the same
// scene with a concept removed by switching off the generator's units, by a
// learned inpainting network (when the model ships one) and by the
// classical Navier–Stokes and Telea methods, each timed. Evaluate measures
// this over many images as a table (how much of the concept is left in the
// region, and FID on the segmenter's features against real renders);
// the painter's compare panel shows one scene.
package compare
