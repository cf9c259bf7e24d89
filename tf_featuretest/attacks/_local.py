"""Logits of many one-pixel variants of an image, recomputing only what the changed pixel reaches.

A one-pixel change of the input alters a 3x3 patch after a 3x3 convolution, a 2x2 patch after
2x2 pooling, and so on: in a plain convolutional network the pixel's *receptive footprint*
stays a few positions wide until the network flattens it. Differential evolution evaluates
hundreds of such variants of the same image per generation, so this module computes the clean
image's activations once per call and, for every variant, only the changed window of each
layer:

* ``Conv2D`` (stride 1): the change of the pre-activation is the convolution of the input
  change alone (a small dense matrix product when the window is small), added to the clean
  pre-activation gathered on the window; the activation is applied to both.
* pooling (``pool_size == strides``, valid padding): the window is widened to whole pooling
  cells, filled with the clean values, the change added at the window's offset, and pooled.
* per-position layers (activations, inference batch normalisation, dropout, rescaling) act on
  the window as they act everywhere.
* ``Flatten`` + ``Dense``: the change of the dense pre-activation is the window's change times
  the rows of the kernel under the window; variants are partitioned by window position so each
  partition is one matrix product with one static kernel slice. ``GlobalAveragePooling2D``
  adds the window's change divided by the map size.
* everything after that runs as usual on the ``[variants, units]`` vectors.

Windows that reach past a border carry a validity mask, so padding and cut-off pooling cells
behave exactly as in the full network. Results equal the full forward pass up to float32
summation order; :func:`build` checks that on random variants before it is used and returns
``None`` (full forward passes) for any model it cannot follow.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

try:  # XLA's gather with block slices; part of the TensorFlow wheel, but not a public API
    from tensorflow.compiler.tf2xla.python import xla as tfxla
    from tensorflow.compiler.xla import xla_data_pb2
except ImportError:  # then every model gets whole-model passes (build returns None)
    tfxla = xla_data_pb2 = None

_PER_POSITION = tuple(getattr(keras.layers, name) for name in (
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "BatchNormalization", "Dropout", "SpatialDropout2D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "Rescaling", "Identity", "ActivityRegularization")
    if hasattr(keras.layers, name))


class Unsupported(Exception):
    """The model has a layer (or layout) the local evaluation does not follow."""


class _Axis:
    """Per-axis bookkeeping: map size, window size, and the range of window starts."""

    def __init__(self, size, window, lo, hi):
        self.size, self.window, self.lo, self.hi = size, window, lo, hi

    def conv(self, k, pad_lo, out_size):
        shift = pad_lo - k + 1
        return _Axis(out_size, self.window + k - 1, self.lo + shift, self.hi + shift)

    def pool(self, s):
        return _Axis(self.size // s, (s - 1 + self.window - 1) // s + 1, self.lo // s, self.hi // s)

    def pads(self, span):
        """Zero padding ``(before, after)`` this map needs so windows ``[a, a + span)`` stay inside."""
        return max(0, -self.lo), max(0, self.hi + span - self.size)


def _region_pads(inp, out, s):
    """Padding of a pooling layer's input so the whole cells under every output window stay inside."""
    return max(0, -s * out.lo), max(0, s * (out.hi + out.window) - inp.size)


def _is_per_position(layer):
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis in (-1, 3, [-1], [3])
    if isinstance(layer, keras.layers.Activation):
        return True
    return isinstance(layer, _PER_POSITION)


def _plan(model):
    """Split the model into spatial steps, a head (``flatten_dense`` or ``gap``) and the remaining layers."""
    layers = [lay for lay in model.layers if not isinstance(lay, keras.layers.InputLayer)]
    shape = model.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or any(v is None for v in shape[1:]):
        raise Unsupported(f"input shape {shape!r}")
    h, w, c = shape[1:]
    rows, cols = _Axis(h, 1, 0, h - 1), _Axis(w, 1, 0, w - 1)
    steps, i = [], 0
    while i < len(layers):
        lay = layers[i]
        if isinstance(lay, keras.layers.Conv2D) and type(lay) is keras.layers.Conv2D:
            if tuple(lay.strides) != (1, 1) or tuple(lay.dilation_rate) != (1, 1) or lay.groups != 1 \
                    or lay.data_format != "channels_last" or lay.padding not in ("same", "valid"):
                raise Unsupported(f"conv layer {lay.name!r}")
            (kh, kw), same = lay.kernel_size, lay.padding == "same"
            in_window = (rows.window, cols.window)
            rows = rows.conv(kh, (kh - 1) // 2 if same else 0, rows.size if same else rows.size - kh + 1)
            cols = cols.conv(kw, (kw - 1) // 2 if same else 0, cols.size if same else cols.size - kw + 1)
            steps.append({"kind": "conv", "layer": lay, "rows": rows, "cols": cols, "in_window": in_window})
        elif isinstance(lay, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            if tuple(lay.pool_size) != tuple(lay.strides) or lay.padding != "valid" \
                    or lay.data_format != "channels_last":
                raise Unsupported(f"pooling layer {lay.name!r}")
            sh, sw = lay.pool_size
            steps.append({"kind": "pool", "layer": lay, "in_rows": rows, "in_cols": cols,
                          "max": isinstance(lay, keras.layers.MaxPooling2D)})
            rows, cols = rows.pool(sh), cols.pool(sw)
            steps[-1].update(rows=rows, cols=cols)
        elif _is_per_position(lay):
            steps.append({"kind": "pos", "layer": lay, "rows": rows, "cols": cols})
        else:
            break
        i += 1
    if i >= len(layers):
        raise Unsupported("no flatten/dense or global-average head")
    lay = layers[i]
    if isinstance(lay, keras.layers.Flatten):
        j = i + 1
        while j < len(layers) and isinstance(layers[j], keras.layers.Dropout):
            j += 1
        if j >= len(layers) or type(layers[j]) is not keras.layers.Dense:
            raise Unsupported("flatten not followed by a dense layer")
        head, rest = {"kind": "flatten_dense", "layer": layers[j]}, layers[j + 1:]
    elif isinstance(lay, keras.layers.GlobalAveragePooling2D) and not lay.keepdims:
        head, rest = {"kind": "gap", "layer": lay}, layers[i + 1:]
    else:
        raise Unsupported(f"layer {lay.name!r} ({type(lay).__name__})")
    head.update(rows=rows, cols=cols)
    return steps, head, rest


def _slices(operand, starts, sizes):
    """One XLA gather: ``operand[i0 : i0+1, r : r+sr, c : c+sc, :]`` for every row ``(i0, r, c)`` of ``starts``.

    Each variant's window is copied as one block (``tf.gather`` would gather it position by
    position). XLA clamps starts so that blocks stay inside; the callers' padding makes that a no-op.
    """
    dims = xla_data_pb2.GatherDimensionNumbers()
    dims.offset_dims.extend([1, 2, 3])
    dims.collapsed_slice_dims.append(0)
    dims.start_index_map.extend([0, 1, 2])
    dims.index_vector_dim = 1
    return tfxla.gather(operand, tf.stack(starts, 1), dims, [1, *sizes, operand.shape[-1]], indices_are_sorted=False)


def _gather_window(m, pads, g, r0, c0, sr, sc):
    """``m[g, r0:r0+sr, c0:c0+sc]`` per variant from a map padded by ``pads = ((top, bottom), (left, right))``."""
    return _slices(m, [g, r0 + pads[0][0], c0 + pads[1][0]], [sr, sc])


def _valid(r0, c0, axis_r, axis_c):
    """``[n, sr, sc, 1]`` mask of window positions that lie inside the map."""
    r = r0[:, None] + tf.range(axis_r.window)
    c = c0[:, None] + tf.range(axis_c.window)
    vr = tf.logical_and(r >= 0, r < axis_r.size)
    vc = tf.logical_and(c >= 0, c < axis_c.size)
    return tf.logical_and(vr[:, :, None], vc[:, None, :])[..., None]


def _place(delta, off_r, off_c, span_r, span_c):
    """Put ``delta [n, sr, sc, C]`` into a zero ``[n, span_r, span_c, C]`` at per-variant offsets."""
    sr, sc = delta.shape[1], delta.shape[2]
    mr, mc = span_r - sr, span_c - sc  # the largest offsets
    padded = tf.pad(delta, [[0, 0], [mr, mr], [mc, mc], [0, 0]])
    return _slices(padded, [tf.range(tf.shape(delta)[0]), mr - off_r, mc - off_c], [span_r, span_c])


def _full_conv_matrix(kernel, sr, sc):
    """The matrix of ``delta [sr, sc, cin] -> full convolution [sr+kh-1, sc+kw-1, cout]``, gathered from the kernel."""
    kh, kw, cin, cout = kernel.shape
    out_r, out_c = sr + kh - 1, sc + kw - 1
    i, j, orr, occ = np.meshgrid(np.arange(sr), np.arange(sc), np.arange(out_r), np.arange(out_c), indexing="ij")
    tr, tc = i - orr + kh - 1, j - occ + kw - 1
    ok = (tr >= 0) & (tr < kh) & (tc >= 0) & (tc < kw)
    tap = np.where(ok, tr * kw + tc, kh * kw)  # the extra last tap is zeros
    taps = tf.concat([tf.reshape(kernel, [kh * kw, cin, cout]), tf.zeros([1, cin, cout], kernel.dtype)], 0)
    mat = tf.gather(taps, tap.astype(np.int32))  # [sr, sc, out_r, out_c, cin, cout]
    mat = tf.transpose(mat, [0, 1, 4, 2, 3, 5])
    return tf.reshape(mat, [sr * sc * cin, out_r * out_c * cout])


def _pool(v, step):
    """Max or average pooling of whole cells, as a reshape and a reduction (fuses well under XLA)."""
    sh, sw = step["layer"].pool_size
    n, h, w, c = tf.shape(v)[0], v.shape[1], v.shape[2], v.shape[3]
    cells = tf.reshape(v, [n, h // sh, sh, w // sw, sw, c])
    return tf.reduce_max(cells, axis=[2, 4]) if step["max"] else tf.reduce_mean(cells, axis=[2, 4])


class LocalEvaluator:
    """``logits(x, rows, cols, values)`` for one-pixel variants, built by :func:`build`."""

    def __init__(self, model):
        self.steps, self.head, self.rest = _plan(model)
        # padding each base map needs: its own window gathers, and pooling regions read from it
        self.input_pads = ((0, 0), (0, 0))
        for i, st in enumerate(self.steps):
            if st["kind"] == "pool":
                sh, sw = st["layer"].pool_size
                need = tuple(_region_pads(st[f"in_{a}"], st[a], s) for a, s in (("rows", sh), ("cols", sw)))
                if i:
                    self.steps[i - 1]["in_pads"] = need
                else:
                    self.input_pads = need
            if st["kind"] == "conv":
                st["pads"] = (st["rows"].pads(st["rows"].window), st["cols"].pads(st["cols"].window))

    # -- clean-image pass: pre-activations of convolutions, inputs of pooling layers, head base

    def base(self, x):
        """The clean images' activations the variants are computed from (no XLA needed).

        Returns ``(x, maps, head)``: the images, a dict of padded maps (convolution
        pre-activations ``"pre<step>"``, pooling inputs ``"in<step>"``), and the clean head
        pre-activation ``[G, U]`` (or the global average ``[G, C]``).
        """
        maps = {"in0": tf.pad(x, [[0, 0], *self.input_pads, [0, 0]])}
        cur = x
        for i, st in enumerate(self.steps):
            lay = st["layer"]
            if st["kind"] == "conv":
                pre = tf.nn.conv2d(cur, lay.kernel, 1, lay.padding.upper())
                if lay.use_bias:
                    pre = pre + lay.bias
                maps[f"pre{i}"] = tf.pad(pre, [[0, 0], *st["pads"], [0, 0]])
                cur = lay.activation(pre)
            else:
                cur = lay(cur, training=False)
            if "in_pads" in st:
                maps[f"in{i + 1}"] = tf.pad(cur, [[0, 0], *st["in_pads"], [0, 0]])
        if self.head["kind"] == "flatten_dense":
            d = self.head["layer"]
            head = tf.matmul(tf.reshape(cur, [tf.shape(cur)[0], -1]), d.kernel)
            if d.use_bias:
                head = head + d.bias
        else:
            head = tf.reduce_mean(cur, axis=[1, 2])
        return x, maps, head

    def prepare(self):
        """Tensors derived from the weights alone, computed once per attack and passed to every call.

        For each convolution, the matrix of ``window change -> widened window change`` (its full
        convolution of every unit input); for a flatten + dense head, the dense kernel's rows under
        every possible window position, stacked ``[positions, window size, units]``.
        """
        mats = []
        for st in self.steps:
            if st["kind"] == "conv":
                mats.append(_full_conv_matrix(st["layer"].kernel, st["in_window"][0], st["in_window"][1]))
        head = tf.zeros([0])
        if self.head["kind"] == "flatten_dense":
            ar, ac = self.head["rows"], self.head["cols"]
            kern = tf.reshape(self.head["layer"].kernel, [ar.size, ac.size, -1, self.head["layer"].units])
            (pt, pb), (pl, pr) = ar.pads(ar.window), ac.pads(ac.window)
            kern = tf.pad(kern, [[pt, pb], [pl, pr], [0, 0], [0, 0]])
            head = tf.stack([tf.reshape(kern[a:a + ar.window, b:b + ac.window], [-1, kern.shape[-1]])
                             for a in range(ar.lo + pt, ar.hi + pt + 1) for b in range(ac.lo + pl, ac.hi + pl + 1)])
        return tuple(mats), head

    def changes(self, base, img, rows, cols, values, prepared):
        """The part of :meth:`logits` up to the head; needs XLA (``tf.function(..., jit_compile=True)``).

        Variant ``i`` is image ``x[img[i]]`` with pixel ``(rows[i], cols[i])`` set to ``values[i]``, where
        ``base = self.base(x)``.
        Returns ``(head_base [n, U], change, r0, c0)``: the clean head pre-activation of each
        variant's image, the change of the last spatial map over each variant's window
        ``[n, sr, sc, C]`` (zero outside the map), and the window starts ``[n]``.
        """
        x, maps, head_base = base
        g = tf.cast(img, tf.int32)
        r0 = tf.cast(rows, tf.int32)
        c0 = tf.cast(cols, tf.int32)
        vals = tf.reshape(values, [-1, 1, 1, values.shape[-1]])
        old = tf.gather_nd(x, tf.stack([g, r0, c0], -1))[:, None, None, :]
        new, base = vals, old
        delta = new - base
        conv_i = 0
        for i, st in enumerate(self.steps):
            lay, ar, ac = st["layer"], st["rows"], st["cols"]
            if st["kind"] == "conv":
                kh, kw = lay.kernel_size
                same = lay.padding == "same"
                r0 = r0 + ((kh - 1) // 2 if same else 0) - kh + 1
                c0 = c0 + ((kw - 1) // 2 if same else 0) - kw + 1
                d = tf.reshape(tf.matmul(tf.reshape(delta, [tf.shape(delta)[0], -1]), prepared[0][conv_i]),
                               [-1, ar.window, ac.window, lay.filters])
                conv_i += 1
                pre = _gather_window(maps[f"pre{i}"], st["pads"], g, r0, c0, ar.window, ac.window)
                base, new = lay.activation(pre), lay.activation(pre + d)
            elif st["kind"] == "pool":
                sh, sw = lay.pool_size
                pr, pc = tf.math.floordiv(r0, sh), tf.math.floordiv(c0, sw)
                span_r, span_c = sh * ar.window, sw * ac.window
                src = maps[f"in{i}"]
                pads = self.steps[i - 1]["in_pads"] if i else self.input_pads
                region = _gather_window(src, pads, g, pr * sh, pc * sw, span_r, span_c)
                changed = region + _place(delta, r0 - pr * sh, c0 - pc * sw, span_r, span_c)
                base, new = _pool(region, st), _pool(changed, st)
                r0, c0 = pr, pc
            else:
                base, new = lay(base, training=False), lay(new, training=False)
            delta = tf.where(_valid(r0, c0, ar, ac), new - base, tf.zeros_like(new))
        return tf.gather(head_base, g), delta, r0, c0

    def finish(self, head_base, delta, r0, c0, prepared):
        """Logits ``[n, classes]`` from the output of :meth:`changes`."""
        out = head_base + self._head_change(delta, r0, c0, prepared[1])
        if self.head["kind"] == "flatten_dense":
            out = self.head["layer"].activation(out)
        for lay in self.rest:
            out = lay(out, training=False)
        return out

    def logits(self, x, img, rows, cols, values):
        """Logits ``[n, classes]`` of images ``x[img]`` with pixel ``(rows, cols)`` set to ``values [n, C]``."""
        if not hasattr(self, "_core"):
            self._core = tf.function(self.changes, jit_compile=True)
        prepared = self.prepare()
        return self.finish(*self._core(self.base(x), img, rows, cols, values, prepared), prepared)

    def _head_change(self, delta, r0, c0, kern):
        ar, ac = self.head["rows"], self.head["cols"]
        if self.head["kind"] == "gap":
            return tf.reduce_sum(delta, axis=[1, 2]) / float(ar.size * ac.size)
        n_c = ac.hi - ac.lo + 1
        groups = (ar.hi - ar.lo + 1) * n_c
        gid = (r0 - ar.lo) * n_c + (c0 - ac.lo)
        flat = tf.reshape(delta, [tf.shape(delta)[0], -1])
        parts = tf.dynamic_partition(flat, gid, groups)
        where = tf.dynamic_partition(tf.range(tf.shape(flat)[0]), gid, groups)
        return tf.dynamic_stitch(where, [tf.matmul(parts[k], kern[k]) for k in range(groups)])


def build(model, input_shape, *, check=True, seed=0):
    """A :class:`LocalEvaluator` for ``model``, or None when its layers cannot be followed or the check fails.

    The check compares the local logits of random one-pixel variants (border pixels included) of
    two random images with the model's own forward pass.
    """
    if tfxla is None:
        return None
    try:
        ev = LocalEvaluator(model)
    except (Unsupported, AttributeError, TypeError, ValueError):  # a layer this module cannot follow
        return None
    if not check:
        return ev
    h, w, c = input_shape
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (2, h, w, c)).astype(np.float32)
    n = 96
    img = np.arange(n) % 2
    rows, cols = rng.integers(0, h, n), rng.integers(0, w, n)
    rows[:4], cols[:4] = [0, 0, h - 1, h - 1], [0, w - 1, 0, w - 1]
    vals = rng.uniform(0, 1, (n, c)).astype(np.float32)
    try:
        local = ev.logits(*(tf.constant(v) for v in (x, img, rows, cols, vals))).numpy()
    except Exception:  # noqa: BLE001 - anything the local path cannot do falls back to exact full passes
        return None
    imgs = x[img]
    imgs[np.arange(n), rows, cols] = vals
    full = model(tf.constant(imgs), training=False).numpy()
    scale = 1.0 + np.abs(full).max()
    return ev if np.abs(local - full).max() <= 1e-4 * scale else None
