"""The machine a benchmark ran on, for the header of every benchmark's output: CPU model, SIMD
level, core count, Python and NumPy, NumPy's BLAS (library, kernel, threads) and the thread
settings of the frameworks already imported. These machines are shared and differ: a figure
means little without the machine it was measured on.

    from machine import header
    print(header())
"""

import os
import platform
import sys

import numpy as np

__all__ = ["cpu", "header", "lines"]


def cpu():
    """``(model, SIMD level)`` from /proc/cpuinfo ("?" where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as info:
            text = info.read().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in text
                     if line.startswith("model name"))
        flags = set(next(line for line in text if line.startswith("flags"))
                    .split(":", 1)[1].split())
    except (OSError, StopIteration):
        return platform.processor() or "?", "?"
    simd = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags
            else "AVX" if "avx" in flags else "SSE")
    return model, simd


def lines():
    """The header's lines: the machine, NumPy's BLAS, and each imported framework's threads."""
    model, simd = cpu()
    found = [f"machine: {model}, {os.cpu_count()} cores, {simd}; Python "
             f"{platform.python_version()}, NumPy {np.__version__}"]
    try:
        import threadpoolctl

        for pool in threadpoolctl.threadpool_info():
            found.append(f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                         f"({pool.get('architecture')} kernel), {pool.get('num_threads')} threads")
    except ImportError:
        found.append("BLAS: (threadpoolctl not installed)")
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        threading = tf.config.threading
        found.append(f"TensorFlow {tf.__version__}: intra-op threads "
                     f"{threading.get_intra_op_parallelism_threads() or 'default'}, inter-op "
                     f"{threading.get_inter_op_parallelism_threads() or 'default'}")
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        found.append(f"torch {torch.__version__}: {torch.get_num_threads()} threads")
    if "jax" in sys.modules:
        found.append(f"JAX {sys.modules['jax'].__version__}")
    if "onnxruntime" in sys.modules:
        found.append(f"onnxruntime {sys.modules['onnxruntime'].__version__}")
    return found


def header():
    """:func:`lines` as one string."""
    return "\n".join(lines())
