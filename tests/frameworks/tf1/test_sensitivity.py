"""Sensitivity for TF1 cells and tf_keras: deliberately wrong cells (the framework side) and
wrong converters (the twin's side) go through lstm_ref's comparison like any user's, and each
bug is flagged at the step and in the tensor where it first shows, at the table's tolerance.

Bugs: forget_bias dropped, the kernel read as i f j o, cell_clip applied after the output
gate, the projection forgotten (tests/tf1_broken.py); Keras 3's hard_sigmoid for a tf_keras
layer; a TF1 -> Keras port that does not fold forget_bias into the bias.
"""

import numpy as np
import pytest

pytest.importorskip("tf_keras")

import lstm_ref  # noqa: E402
from lstm_ref.frameworks.tf1 import cells as tf1  # noqa: E402
from lstm_ref.frameworks.tf1 import observe as tf1_observe  # noqa: E402
from lstm_ref.engine import check_observation  # noqa: E402
from lstm_ref.errors import ShapeError  # noqa: E402
from lstm_ref.frameworks.tf1.cases import build_cell  # noqa: E402
from lstm_ref.grids.tf1 import TF1Case  # noqa: E402

pytestmark = [pytest.mark.filterwarnings(r"ignore:`tf\.nn\.rnn_cell\..*` is deprecated"),
              pytest.mark.filterwarnings(r"ignore:`layer\.updates` will be removed")]

# Cases whose cells have every option the bug needs; the projection bug needs num_proj ==
# num_units ("smaller" for 1 unit is 1): otherwise the cell's own next step fails on shapes.
CASES = [TF1Case(7, 3, 2, 9, use_peepholes=True, cell_clip=0.5, projection="none",
                 initial_state=True),
         TF1Case(1, 4, 3, 12, cell_clip=0.5, projection="smaller", activation="softsign",
                 execution="function"),
         TF1Case(32, 16, 5, 40, forget_bias=-1.5, cell_clip=0.5, initial_state=True,
                 sequence_length=True, execution="session")]


def broken_cell(case, bug):
    """The case's cell as tests.tf1_broken.BrokenTF1Cell with ``bug``, the case's variables."""
    from tests.frameworks.tf1.broken import BrokenTF1Cell

    correct = build_cell(case)
    cell = BrokenTF1Cell(case.num_units, bug=bug, **{k: v for k, v in case.cell_options().items()
                                                     if k != "num_units"})
    cell.build((case.batch, case.features))
    for mine, theirs in zip(cell.variables, correct.variables):
        mine.assign(theirs)
    return cell


def compare_case(cell, case):
    arrays = case.arrays()
    return lstm_ref.compare(cell, arrays["x"], initial_state=arrays["initial_state"],
                            sequence_length=arrays["lengths"], execution=case.execution)


def first_clip_step(case):
    """The first step at which some c_t, before clipping, exceeds cell_clip: where applying
    the clip after the output gate first changes h."""
    cell = build_cell(case)
    weights = lstm_ref.from_tf1_cell(cell).weights
    arrays = case.arrays()
    state = None if arrays["initial_state"] is None else arrays["initial_state"][::-1]
    mask = None if arrays["lengths"] is None else tf1.lengths_mask(arrays["lengths"], case.batch,
                                                                    case.time)
    trace = lstm_ref.forward(arrays["x"], weights, initial_state=state, mask=mask, keep="gates")
    c0 = np.zeros((case.batch, 1, case.num_units)) if state is None else state[1][:, None]
    c_prev = np.concatenate([c0, trace.c[:, :-1]], axis=1)
    g = trace.gates
    unclipped = g["f"] * c_prev + g["i"] * g["c"]
    valid = np.ones(unclipped.shape[:2], bool) if mask is None else mask
    beyond = (np.abs(unclipped) > case.cell_clip).any(axis=2) & valid
    return int(np.argmax(beyond.any(axis=0)))


def where_it_first_shows(case, bug):
    """(step, tensor) of the first failure a bug must produce in this case."""
    if bug == "cell_clip after the output gate":
        return first_clip_step(case), "h"  # c is clipped as it should be; h saw the raw c
    if bug == "forget_bias dropped" and case.initial_state is False:
        return 1, "h"  # f multiplies c_{t-1}, zero at step 0 from a zero state
    return 0, "h"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_unbroken_subclass_passes(case):
    report = compare_case(broken_cell(case, None), case)
    assert report.passed, report.summary()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("bug", ["forget_bias dropped", "kernel read as i f j o",
                                 "cell_clip after the output gate", "projection forgotten"])
def test_each_broken_tf1_cell_is_flagged(case, bug):
    if bug == "projection forgotten" and case.num_proj != case.num_units:
        pytest.skip("the cell itself fails on shapes unless num_proj == num_units")
    report = compare_case(broken_cell(case, bug), case)
    assert not report.passed, f"{bug} was not flagged:\n{report.summary()}"
    step, tensor = where_it_first_shows(case, bug)
    assert (report.first_failing_step, report.first_failure.tensor) == (step, tensor), \
        report.summary()
    # The whole run (dynamic_rnn, by the case's execution) fails too, not only the steps.
    assert not report.tensors["output"].passed


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("bug", ["forget_bias dropped", "kernel read as i f j o",
                                 "projection forgotten"])
def test_each_broken_converter_is_flagged(case, bug):
    from tests.frameworks.tf1.broken import broken_weights

    cell = build_cell(case)
    arrays = case.arrays()
    observation = tf1_observe.observe(cell, arrays["x"], initial_state=arrays["initial_state"],
                              sequence_length=arrays["lengths"], execution=case.execution)
    assert check_observation(observation).passed
    if bug == "projection forgotten" and case.num_proj not in (None, case.num_units):
        with pytest.raises(ShapeError):  # never a silently different model
            broken_weights(cell, bug)
        return
    observation.weights = broken_weights(cell, bug)
    report = check_observation(observation)
    if bug == "projection forgotten" and case.num_proj is None:
        assert report.passed  # nothing to forget
        return
    assert not report.passed, f"{bug} was not flagged:\n{report.summary()}"
    assert (report.first_failing_step, report.first_failure.tensor) == where_it_first_shows(
        case, bug), report.summary()


def test_keras_3_hard_sigmoid_for_a_tf_keras_layer_is_flagged():
    from lstm_ref.frameworks.keras import observe as keras_observe
    from lstm_ref.frameworks.keras.cases import build_case_layer
    from lstm_ref.grids.keras import Case

    case = Case(7, 3, 2, 9, recurrent_activation="hard_sigmoid", returns="sequences+state")
    layer = build_case_layer(case, api="tf_keras")
    observation = keras_observe.observe(layer, case.arrays()["x"])
    assert check_observation(observation).passed
    w = observation.weights
    observation.weights = lstm_ref.LSTMWeights(w.kernel, w.recurrent_kernel, w.bias,
                                               activation=w.activation,
                                               recurrent_activation="hard_sigmoid")
    report = check_observation(observation)
    assert not report.passed
    assert (report.first_failing_step, report.first_failure.tensor) == (0, "h"), report.summary()


@pytest.mark.parametrize("initial_state,first_step", [(True, 0), (False, 1)])
def test_a_tf1_to_keras_port_must_fold_forget_bias(initial_state, first_step):
    """Port a TF1 cell to a tf_keras LSTM: with the forget_bias folded into the bias
    (LSTMWeights.to_keras) the LSTM computes what the cell does; without, it is flagged (at
    step 1 from a zero state: f multiplies c_{t-1})."""
    import tf_keras

    from lstm_ref.frameworks.keras import observe as keras_observe
    from tests.frameworks.tf1.broken import unfolded_keras_weights

    case = TF1Case(7, 3, 2, 9, cell="BasicLSTMCell", initial_state=initial_state)
    cell_weights = lstm_ref.from_tf1_cell(build_cell(case)).weights
    x = case.arrays()["x"]
    state = None if case.arrays()["initial_state"] is None else case.arrays()["initial_state"][::-1]
    for port, passes in ((cell_weights.to_keras(), True),
                         (unfolded_keras_weights(cell_weights), False)):
        layer = tf_keras.layers.LSTM(case.num_units, return_sequences=True, return_state=True)
        layer.build((case.batch, case.time, case.features))
        layer.set_weights([w.astype("float32") for w in port])
        observation = keras_observe.observe(layer, x, initial_state=state)
        observation.weights = cell_weights  # what the port must compute: the TF1 cell's LSTM
        report = check_observation(observation)
        assert report.passed is passes, report.summary()
        if not passes:
            assert report.first_failing_step == first_step, report.summary()


def test_a_state_read_in_keras_order_is_flagged(monkeypatch):
    """A twin that takes TF1's (c, h) as Keras's [h, c]: with 7 units and no projection both
    have the same shape, so only the values tell. The cell runs on the caller's state as
    given, the reference on the twin's reading of it: flagged at step 0."""
    case = CASES[0]
    assert case.num_proj is None and case.initial_state
    cell = build_cell(case)
    assert compare_case(cell, case).passed
    monkeypatch.setattr(tf1.TF1CellTwin, "keras_state",
                        lambda self, state, batch, name="initial_state": (
                            None if state is None else list(self.tf1_state(state, batch, name))))
    report = compare_case(cell, case)
    assert not report.passed
    assert report.first_failing_step == 0, report.summary()
