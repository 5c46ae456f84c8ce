"""Give a segmenter.onnx its second output, `features`: the penultimate feature map (the input of
the final 1x1 classifier) averaged over the image, [B, C]. FID on these features is how
`ganpaint compare` and `ganpaint artifacts` measure realism (docs/model-format.md); they are the
same features as eval_quality.py's fid_seg (Segmenter.penultimate(x).mean((2, 3))).

    /usr/bin/python3 training/seg_features.py assets/models/scenes128/segmenter.onnx

export.py calls add_features_output on every segmenter it writes; this command upgrades a model
exported before. It changes nothing when the output is already there. The file is rewritten
through a temporary file and a rename.
"""

import argparse
import os
import sys

FEATURES = "features"


class SegFeaturesError(ValueError):
    pass


def _channels(g, weight_name):
    """Input channels of the classifier's weight: an initializer, or a Cast of one (fp16 files)."""
    inits = {t.name: t for t in g.initializer}
    name = weight_name
    for n in g.node:
        if n.op_type == "Cast" and list(n.output) == [weight_name]:
            name = n.input[0]
    if name not in inits:
        raise SegFeaturesError("classifier weight %r is not an initializer" % weight_name)
    dims = list(inits[name].dims)
    if len(dims) != 4 or dims[2:] != [1, 1]:
        raise SegFeaturesError("classifier weight has shape %s, want [classes, C, 1, 1]" % dims)
    return int(dims[1])


def add_features_output(path):
    """Add the `features` output to the segmenter at path. Returns False if it already has it."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(path)
    g = m.graph
    if any(o.name == FEATURES for o in g.output):
        return False
    if [o.name for o in g.output] != ["output"]:
        raise SegFeaturesError("%s: outputs %s, want exactly ['output']" % (path, [o.name for o in g.output]))
    producers = [n for n in g.node if "output" in n.output]
    if len(producers) != 1 or producers[0].op_type != "Conv":
        raise SegFeaturesError("%s: 'output' is not made by a 1x1 Conv (the classifier)" % path)
    cls = producers[0]
    c = _channels(g, cls.input[1])
    g.node.append(helper.make_node("ReduceMean", [cls.input[0]], [FEATURES], axes=[2, 3], keepdims=0,
                                   name="features/ReduceMean"))
    batch = g.output[0].type.tensor_type.shape.dim[0]
    vi = helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, [batch.dim_param or "batch", c])
    g.output.append(vi)
    onnx.checker.check_model(m)
    tmp = path + ".tmp%d" % os.getpid()
    try:
        onnx.save(m, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("segmenter", nargs="+", help="segmenter.onnx file(s)")
    args = p.parse_args(argv)
    for path in args.segmenter:
        try:
            added = add_features_output(path)
        except (OSError, SegFeaturesError) as e:
            print("seg_features: %s" % e, file=sys.stderr)
            return 1
        print("%s: %s" % (path, "features output added" if added else "already has a features output"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
