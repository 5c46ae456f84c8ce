package inference

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these
// (test with errors.Is) together with a message naming the offending value, so
// callers can map them to user-facing codes without parsing text.
var (
	// ErrNoRuntime: the ONNX Runtime shared library could not be found or loaded.
	ErrNoRuntime = errors.New("onnx runtime library not available")
	// ErrRuntime: ONNX Runtime failed while running a graph.
	ErrRuntime = errors.New("onnx runtime failure")
	// ErrBadModel: the model directory, its manifest or one of its ONNX files is
	// missing, corrupt, or does not follow docs/model-format.md.
	ErrBadModel = errors.New("bad model")
	// ErrUnknownLayer: the layer name is not one of the manifest's generator blocks.
	ErrUnknownLayer = errors.New("unknown layer")
	// ErrUnitOutOfRange: an edit names a unit outside [0, channels) of its layer.
	ErrUnitOutOfRange = errors.New("unit out of range")
	// ErrMaskSize: a mask's dimensions are inconsistent or smaller than the layer grid.
	ErrMaskSize = errors.New("bad mask size")
	// ErrBadMask: a mask value is NaN, infinite or outside [0, 1].
	ErrBadMask = errors.New("bad mask value")
	// ErrBadStrength: an edit strength is NaN, infinite or negative.
	ErrBadStrength = errors.New("bad strength")
	// ErrBadValue: a ModeSet value is NaN or infinite, or a ModeBlend edit has
	// weights outside [0, 1], non-finite values or lists of the wrong length.
	ErrBadValue = errors.New("bad edit value")
	// ErrBadMode: an edit mode is not ModeAdd, ModeRemove, ModeSet or ModeBlend.
	ErrBadMode = errors.New("bad edit mode")
	// ErrBadLevels: per-unit levels are missing, of the wrong length or not finite.
	ErrBadLevels = errors.New("bad unit levels")
	// ErrBadFormat: an image format other than FormatPNG and FormatJPEG.
	ErrBadFormat = errors.New("bad image format")
	// ErrBadShape: a batch size, z vector, feature or image buffer does not have
	// the size the model expects.
	ErrBadShape = errors.New("bad tensor shape")
	// ErrIDOutOfRange: an image id outside [0, z.max_id).
	ErrIDOutOfRange = errors.New("image id out of range")
	// ErrBusy: every worker is busy and the wait queue is full; retry later.
	ErrBusy = errors.New("inference busy")
	// ErrCloseTimeout: Close gave up waiting for running requests.
	ErrCloseTimeout = errors.New("model close timed out")
	// ErrClosed: the model has been closed.
	ErrClosed = errors.New("model closed")
	// ErrNoSegmenter: the model has no segmenter.
	ErrNoSegmenter = errors.New("model has no segmenter")
	// ErrNoDiscriminator: the model has no discriminator.
	ErrNoDiscriminator = errors.New("model has no discriminator")
	// ErrBadQuality: a JPEG quality outside [1, 100].
	ErrBadQuality = errors.New("bad jpeg quality")
	// ErrNoFeatures: the model's segmenter has no `features` output.
	ErrNoFeatures = errors.New("segmenter has no features output")
	// ErrNoInpainter: the model ships no learned inpainter.
	ErrNoInpainter = errors.New("model has no inpainter")
)
