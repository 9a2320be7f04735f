"""NumPy's BLAS held to one thread while the reference checks a framework's run.

The reference's products are small (a batch of at most a few hundred rows against a
recurrent kernel of 4 * units columns, one step at a time): a second BLAS thread saves little
on them, and OpenBLAS's pool then busy-waits between calls, taking the core that the
framework's own thread pools (TensorFlow's, torch's) run on next. Held to one thread during
the checks, a grid runs faster on a small machine (measured: docs/findings, "Performance").
Without threadpoolctl (a small pure-Python package from joblib's authors, in every framework
extra) the scope changes nothing.
"""

import contextlib
import importlib.util

__all__ = ["one_blas_thread"]

_controller = None


@contextlib.contextmanager
def one_blas_thread():
    """A scope in which NumPy's BLAS runs on one thread; the caller's setting after it."""
    global _controller
    if _controller is None:
        if importlib.util.find_spec("threadpoolctl") is None:
            _controller = False
        else:
            import threadpoolctl

            # Built once: finding the loaded libraries walks every shared object.
            _controller = threadpoolctl.ThreadpoolController()
    if not _controller:
        yield
        return
    with _controller.limit(limits=1, user_api="blas"):
        yield
