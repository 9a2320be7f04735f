"""The public API's type hints are part of the contract: the package ships its py.typed marker
(PEP 561) and every public function, method and property carries annotations (``mypy
lstm_ref``, in .ci/run, checks them against the code)."""

import dataclasses
import doctest
import inspect
from pathlib import Path

import pytest

import lstm_ref
from lstm_ref import api, golden, report, testing
from lstm_ref.reference import Trace, forward
from lstm_ref.weights import LSTMWeights

ROOT = Path(__file__).resolve().parents[2]


def public_api():
    """name -> object of everything the public API contract names."""
    found = {f"lstm_ref.{name}": getattr(lstm_ref, name) for name in lstm_ref.__all__
             if name != "__version__"}
    for module in (api, testing, golden):
        found.update({f"{module.__name__}.{name}": getattr(module, name)
                      for name in module.__all__})
    found.update({"lstm_ref.report.Mismatch": report.Mismatch,
                  "lstm_ref.report.TensorReport": report.TensorReport,
                  "lstm_ref.report.Report": report.Report,
                  "lstm_ref.report.reason_text": report.reason_text,
                  "lstm_ref.weights.LSTMWeights": LSTMWeights,
                  "lstm_ref.reference.forward": forward, "lstm_ref.reference.Trace": Trace})
    return found


def callables(name, obj):
    """(qualified name, function) of ``obj`` if it is a function, else of a class's own
    public methods and property getters (``__init__`` included)."""
    if inspect.isfunction(obj):
        return [(name, obj)]
    if not inspect.isclass(obj) or not obj.__module__.startswith("lstm_ref"):
        return []
    found = []
    for attribute, member in vars(obj).items():
        if attribute.startswith("_") and attribute != "__init__":
            continue
        if isinstance(member, property):
            member = member.fget
        if inspect.isfunction(member) and not (dataclasses.is_dataclass(obj)
                                               and attribute == "__init__"):
            found.append((f"{name}.{attribute}", member))
    return found


def unannotated(function):
    """The parameters (and "return") of ``function`` that carry no annotation."""
    signature = inspect.signature(function)
    missing = [p.name for i, p in enumerate(signature.parameters.values())
               if p.annotation is inspect.Parameter.empty
               and not (i == 0 and p.name in ("self", "cls"))]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


FUNCTIONS = sorted({qualified: function for name, obj in public_api().items()
                    for qualified, function in callables(name, obj)}.items())


def test_the_package_ships_its_py_typed_marker():
    assert (Path(lstm_ref.__file__).parent / "py.typed").is_file()
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["lstm_ref"]


def test_the_contract_covers_the_public_api():
    names = {name for name, _ in FUNCTIONS}
    for expected in ("lstm_ref.compare", "lstm_ref.forward", "lstm_ref.LSTMWeights.__init__",
                     "lstm_ref.Report.summary", "lstm_ref.Report.verdict",
                     "lstm_ref.testing.assert_lstm_equivalent", "lstm_ref.golden.check",
                     "lstm_ref.report.Mismatch.exceeds", "lstm_ref.api.check_verdict"):
        assert expected in names, expected


@pytest.mark.parametrize("name, function", FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
def test_every_public_function_is_annotated(name, function):
    assert not unannotated(function), f"{name} lacks annotations for {unannotated(function)}"


@pytest.mark.parametrize("cls", [report.Mismatch, report.TensorReport, report.Report, Trace,
                                 lstm_ref.Gradients, lstm_ref.StackTrace,
                                 golden.CaseResult, golden.GoldenResult])
def test_every_public_dataclass_field_is_typed_precisely(cls):
    # A field typed `object` or a bare `dict` / `list` says nothing a caller can rely on.
    vague = {field.name: field.type for field in dataclasses.fields(cls)
             if field.type in (object, dict, list, tuple, "object", "dict", "list")}
    assert not vague, f"{cls.__name__} fields typed vaguely: {vague}"


def test_the_api_examples_that_need_no_framework_run():
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0
