"""Benchmark: the reference's backward pass as a ratio of its forward pass, and against Keras's
tf.GradientTape on the same sizes. Medians of repeated runs (these machines are shared: quote
ratios, not absolute times).

For each size (batch B, time T, features F, units U) it prints the median seconds of
- forward: lstm_ref.forward(keep="states") in float64 and float32;
- backward: lstm_ref.gradients minus a forward with keep="preactivations" (what it reuses),
  and the ratio backward / forward (goal: below 3);
- Keras (TensorFlow) float32 in a tf.function: the layer's forward, and forward + backward
  under tf.GradientTape (dL/dx and every weight), if TensorFlow is installed.

Usage:  python bench/backward.py [--repeats N]
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import lstm_ref  # noqa: E402
from timing import SIZES, median_time, problem  # noqa: E402
from machine import header  # noqa: E402


def reference_times(batch, steps, features, units, dtype, repeats):
    w, x = problem(batch, steps, features, units)
    d_out = np.random.default_rng(1).normal(size=(batch, steps, units))
    forward = median_time(lambda: lstm_ref.forward(x, w, dtype=dtype), repeats)
    taped = median_time(lambda: lstm_ref.forward(x, w, dtype=dtype, keep="preactivations"),
                        repeats)
    total = median_time(lambda: lstm_ref.gradients(x, w, d_out, dtype=dtype), repeats)
    return forward, total - taped


def keras_times(batch, steps, features, units, repeats):
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        return None
    layer = keras.layers.LSTM(units, return_sequences=True)
    x = tf.random.stateless_uniform((batch, steps, features), (0, 0), -1, 1)
    layer(x)
    d_out = tf.random.stateless_normal((batch, steps, units), (0, 1))

    @tf.function
    def forward(x):
        return layer(x)

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(d_out * layer(x))
        return tape.gradient(loss, [x, *layer.trainable_weights])

    return (median_time(lambda: forward(x).numpy(), repeats),
            median_time(lambda: [g.numpy() for g in forward_backward(x)], repeats))


def main(argv):
    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else 5
    print(header())
    print(f"median of {repeats} runs, seconds; ratio = backward / forward")
    print(f"{'B, T, F, U':>18} {'dtype':>7} {'forward':>9} {'backward':>9} {'ratio':>6} "
          f"{'keras fwd':>10} {'keras f+b':>10} {'ratio':>6}")
    for size in SIZES:
        keras = keras_times(*size, repeats)
        for dtype in ("float64", "float32"):
            forward, backward = reference_times(*size, dtype, repeats)
            line = (f"{str(size):>18} {dtype:>7} {forward:>9.4f} {backward:>9.4f} "
                    f"{backward / forward:>6.2f}")
            if keras and dtype == "float32":
                line += (f" {keras[0]:>10.4f} {keras[1]:>10.4f} "
                         f"{(keras[1] - keras[0]) / keras[0]:>6.2f}")
            print(line, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
