"""How far a Keras cuDNN LSTM departs from the reference, per case: a diagnostic for a GPU
machine (any Keras backend with a cuDNN path; KERAS_BACKEND=torch where TensorFlow has no GPU).

Prints, for each case, the worst error of every tensor and its ratio to the float32 bound,
with cuDNN's TF32 off and on (torch backend), so a departure can be told from TF32.

Usage:  KERAS_BACKEND=torch python bench/cudnn_probe.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lstm_ref.grids import keras as grid  # noqa: E402
from lstm_ref.frameworks.keras import cases as keras_cases  # noqa: E402
from lstm_ref.frameworks.keras import twin as keras_twin  # noqa: E402
from machine import header  # noqa: E402

CASES = [grid.Case(1, 1, 1, 1), grid.Case(7, 3, 2, 9, initial_state=True),
         grid.Case(32, 16, 5, 40), grid.Case(128, 64, 2, 200, initial_state=True)]


def main():
    keras = keras_twin.keras_module()
    print(header())
    settings = [None]
    if keras.backend.backend() == "torch":
        import torch

        settings = [False, True]
    for tf32 in settings:
        if tf32 is not None:
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
        for case in CASES:
            for use_cudnn in (False, True):
                report = keras_cases.run_case(case, use_cudnn=use_cudnn)
                cells = "  ".join(f"{name} {t.worst.error:.2e} ({t.worst.error / t.worst.bound:.2f})"
                                  for name, t in report.tensors.items())
                print(f"tf32={tf32} use_cudnn={use_cudnn!s:5} {case.id}: {cells}")


if __name__ == "__main__":
    main()
