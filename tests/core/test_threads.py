"""lstm_ref._threads: NumPy's BLAS on one thread inside the scope, as the caller set it after."""

import numpy as np
import pytest

from lstm_ref._threads import one_blas_thread


def _blas_threads(threadpoolctl):
    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info()
            if pool["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_and_as_the_caller_set_it_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _blas_threads(threadpoolctl)
        with one_blas_thread():
            inside = _blas_threads(threadpoolctl)
            product = np.ones((64, 64)) @ np.ones((64, 64))  # BLAS still computes
        after = _blas_threads(threadpoolctl)
    assert inside and set(inside) == {1}
    assert after == before and set(before) != {1}
    assert product[0, 0] == 64.0


def test_an_error_inside_leaves_the_setting_as_it_was():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _blas_threads(threadpoolctl)
        with pytest.raises(KeyError), one_blas_thread():
            raise KeyError("inside")
        assert _blas_threads(threadpoolctl) == before
