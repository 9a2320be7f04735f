"""Which grid cases the active Keras backend can run, and which it computes otherwise for a
known reason: what the grid tests and the unittest conformance suite (lstm_ref.conformance)
expect of each case."""

__all__ = ["GRAPH_EXECUTIONS", "unavailable", "known_divergence"]

# Executions that trace a TensorFlow graph (lstm_ref.frameworks.keras.execution).
GRAPH_EXECUTIONS = ("function", "xla")


def unavailable(case, backend):
    """Why ``backend`` cannot run a grid case, or None."""
    if case.execution in GRAPH_EXECUTIONS and backend != "tensorflow":
        return f"execution {case.execution} needs the TensorFlow backend"
    return None


def known_divergence(case, backend):
    """``(reason, exception type or None)`` where Keras on ``backend`` departs from its
    documented semantics on a grid case, found by this suite; None where it does not.

    - JAX: with an initial state, the output at masked steps before a row's first valid step
      is h0 (TensorFlow and the reference: zeros), seen wherever such an output is returned.
    - torch: an unrolled go_backwards layer with a mask raises AttributeError
      (keras/src/backend/torch/rnn.py flips the tuple of per-step masks with
      ``torch.flip(mask_list, dims=mask_list.shape)``).
    """
    mask = case.arrays()["mask"]
    if backend == "torch" and case.unroll and case.go_backwards and mask is not None:
        reason = "Keras's torch backend: unrolled go_backwards with a mask raises AttributeError"
        return reason, AttributeError
    if backend == "jax" and case.initial_state and mask is not None:
        if case.return_sequences:
            leading = (~mask[:, -1 if case.go_backwards else 0]).any()
        else:  # the last output: a row with no valid step returns h0
            leading = (~mask.any(axis=1)).any()
        if leading:
            return "Keras's JAX backend outputs h0 at leading masked steps", None
    return None
