"""ONNX grid cases (lstm_ref.grids.onnx) as models: one LSTM node with the case's seeded
weights, run in onnxruntime and compared; each Report names the case, its seed and the line
that reproduces it alone."""

from lstm_ref.frameworks.onnx import graph as onnx_graph
from lstm_ref.frameworks.onnx import observe as onnx_observe
from lstm_ref.frameworks.onnx.twin import OnnxLSTMTwin

__all__ = ["build_case_model", "run_case"]

def build_case_model(case, dtype="float32"):
    """The case's model: one LSTM node, its weights as initializers, X and the case's optional
    inputs as graph inputs. Returns (model, arrays)."""
    arrays = case.arrays()
    weights = {k: arrays[k] for k in ("W", "R", "B", "P") if arrays[k] is not None}
    fed = tuple(k for k in ("sequence_lens", "initial_h", "initial_c") if arrays[k] is not None)
    model = onnx_graph.make_model(weights, case.attributes(), dtype=dtype, graph_inputs=fed,
                       name=f"lstm_{case.seed}")
    return model, arrays


def run_case(case, tolerance=None, semantics="onnxruntime", twin_class=None):
    """Build the case's graph, run it in onnxruntime and compare it with the reference; the
    Report's context names the case, its seed and a reproducer.

    Args:
        case: a :class:`lstm_ref.grids.onnx.Case`.
        tolerance: a Tolerance instead of the table's float32 entry.
        semantics: the twin's semantics ("onnxruntime" or "spec", see
            lstm_ref.frameworks.onnx.twin).
        twin_class: an OnnxLSTMTwin subclass to build the twin with (the sensitivity tests'
            deliberately broken ones); None for OnnxLSTMTwin.
    """
    model, arrays = build_case_model(case)
    twin = (twin_class or OnnxLSTMTwin)(onnx_graph.read_node(model), semantics)
    state = None
    if arrays["initial_h"] is not None:
        state = [arrays["initial_h"], arrays["initial_c"]]
    observation = onnx_observe.observe(model, arrays["X"], initial_state=state,
                                       sequence_lens=arrays["sequence_lens"],
                                       twin=twin)
    observation.context = case.report_context(observation.context, run_case)
    return onnx_observe.check(observation, tolerance)
