"""Image id -> latent z, rule `splitmix64-boxmuller-v1` of docs/model-format.md.

Go (inference side) and Python must produce bit-identical z for the same (id, size, seed), so
this follows the documented integer recipe exactly, with explicit 64-bit wrapping.
"""

import math

import numpy as np

RULE = "splitmix64-boxmuller-v1"
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class ZRuleError(ValueError):
    pass


def _splitmix64(state):
    """Returns (new_state, output)."""
    state = (state + _GOLDEN) & _MASK
    x = state
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, x ^ (x >> 31)


def z_for_id(image_id, size=128, seed=0, max_id=None):
    """float32 vector of `size` standard-normal values for `image_id`."""
    if not isinstance(image_id, (int, np.integer)) or isinstance(image_id, bool):
        raise ZRuleError(f"image id must be an integer, got {type(image_id).__name__}")
    if image_id < 0 or (max_id is not None and image_id >= max_id):
        raise ZRuleError(f"image id {image_id} out of range [0, {max_id})")
    if size <= 0:
        raise ZRuleError(f"z size must be positive, got {size}")
    # One splitmix64 step hashes (seed, id) into the stream's start, so the streams of
    # nearby ids are unrelated (a plain id*gamma offset makes them shifted copies).
    _, state = _splitmix64((int(seed) ^ int(image_id)) & _MASK)
    out = np.empty(size, dtype=np.float32)
    for i in range(size):
        state, a = _splitmix64(state)
        state, b = _splitmix64(state)
        u1 = ((a >> 11) + 1) * 2.0 ** -53
        u2 = (b >> 11) * 2.0 ** -53
        out[i] = np.float32(math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2))
    return out


def z_batch(ids, size=128, seed=0, max_id=None):
    """[len(ids), size] float32."""
    return np.stack([z_for_id(i, size, seed, max_id) for i in ids]) if len(ids) else np.zeros((0, size), np.float32)


if __name__ == "__main__":
    for i in (0, 1, 999999):
        z = z_for_id(i)
        print(i, " ".join(f"{v:.9g}" for v in z[:4]), f"sum={float(z.astype(np.float64).sum()):.9g}")
