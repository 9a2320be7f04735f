"""ONNX LSTM activations (f, g, h) as NumPy functions, with activation_alpha / activation_beta.

The ONNX LSTM spec lists these, each defined as the ONNX operator of that name:

    Relu(x)            max(0, x)
    Tanh(x)            (1 - e^{-2x}) / (1 + e^{-2x})
    Sigmoid(x)         1 / (1 + e^{-x})
    Affine(x)          alpha * x + beta
    LeakyRelu(x)       x if x >= 0 else alpha * x
    ThresholdedRelu(x) x if x > alpha else 0         (the LSTM page writes >=; the operator, and
                                                      onnxruntime, use >: they differ at x == alpha)
    ScaledTanh(x)      alpha * Tanh(beta * x)
    HardSigmoid(x)     min(max(alpha * x + beta, 0), 1)
    Elu(x)             x if x >= 0 else alpha * (e^x - 1)
    Softsign(x)        x / (1 + |x|)
    Softplus(x)        log(1 + e^x)

activation_alpha and activation_beta are consumed in the order of the activations (f, g, h, then
the backward direction's f, g, h), each value by the next activation that takes that parameter
(onnxruntime's reading, rnn_helpers.cc); an activation whose value is missing takes a default.
The defaults are where the spec and onnxruntime part: the spec says "the same as the
corresponding ONNX operators" (Affine 1.0 and 0.0, ThresholdedRelu 1.0, ScaledTanh none given),
onnxruntime 1.32 uses 0.0 for all three. ``semantics`` picks which (see lstm_ref.frameworks.onnx.twin).
"""

from dataclasses import dataclass

import numpy as np

from lstm_ref import activations
from lstm_ref.errors import ActivationError, OptionError

__all__ = ["PARAMETERS", "NAMES", "SPEC_DEFAULTS", "ORT_DEFAULTS", "DEFAULT_ACTIVATIONS",
           "relu", "tanh", "sigmoid", "affine", "leaky_relu", "thresholded_relu", "scaled_tanh",
           "hard_sigmoid", "elu", "softsign", "softplus", "FUNCTIONS", "OnnxActivation",
           "canonical_name", "parse", "as_ours", "as_onnx", "attributes"]

# name -> (takes alpha, takes beta)
PARAMETERS = {
    "Relu": (False, False), "Tanh": (False, False), "Sigmoid": (False, False),
    "Affine": (True, True), "LeakyRelu": (True, False), "ThresholdedRelu": (True, False),
    "ScaledTanh": (True, True), "HardSigmoid": (True, True), "Elu": (True, False),
    "Softsign": (False, False), "Softplus": (False, False),
}
NAMES = tuple(PARAMETERS)
# Defaults of a missing alpha / beta (None: the spec gives none, the model must set it).
SPEC_DEFAULTS = {"Affine": (1.0, 0.0), "LeakyRelu": (0.01, None), "ThresholdedRelu": (1.0, None),
                 "ScaledTanh": (None, None), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, None)}
ORT_DEFAULTS = {"Affine": (0.0, 0.0), "LeakyRelu": (0.01, None), "ThresholdedRelu": (0.0, None),
                "ScaledTanh": (0.0, 0.0), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, None)}
DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")
# ONNX activations that are exactly one of lstm_ref.activations' functions (parameters
# included), so a twin's weights read as plainly as a Keras LSTM's.
_SAME_AS_OURS = {("Sigmoid", None, None): "sigmoid", ("Tanh", None, None): "tanh",
                 ("Relu", None, None): "relu", ("Softsign", None, None): "softsign",
                 ("Softplus", None, None): "softplus", ("Elu", 1.0, None): "elu",
                 ("Affine", 1.0, 0.0): "linear"}
# Ours -> ONNX, for build_model. Parameters are stored as float32 attributes: 0.2 and 1/6
# change by less than 6e-8 relative (below float32's resolution, in which onnxruntime computes).
_OURS_AS_ONNX = {ours: key for key, ours in _SAME_AS_OURS.items()}
_OURS_AS_ONNX.update({"leaky_relu": ("LeakyRelu", activations.LEAKY_RELU_SLOPE, None),
                      "hard_sigmoid_keras2": ("HardSigmoid", 0.2, 0.5),
                      "hard_sigmoid": ("HardSigmoid", 1 / 6, 0.5)})


def relu(x, alpha=None, beta=None):
    return np.maximum(x, 0)


def tanh(x, alpha=None, beta=None):
    return np.tanh(x)


def sigmoid(x, alpha=None, beta=None):
    return activations.sigmoid(x)


def affine(x, alpha, beta):
    return alpha * x + beta


def leaky_relu(x, alpha, beta=None):
    return np.where(x >= 0, x, alpha * x)


def thresholded_relu(x, alpha, beta=None):
    return np.where(x > alpha, x, 0.0)


def scaled_tanh(x, alpha, beta):
    return alpha * np.tanh(beta * x)


def hard_sigmoid(x, alpha, beta):
    return np.clip(alpha * x + beta, 0, 1)


def elu(x, alpha, beta=None):
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0)))


def softsign(x, alpha=None, beta=None):
    return x / (1 + np.abs(x))


def softplus(x, alpha=None, beta=None):
    return activations.softplus(x)


FUNCTIONS = {"Relu": relu, "Tanh": tanh, "Sigmoid": sigmoid, "Affine": affine,
             "LeakyRelu": leaky_relu, "ThresholdedRelu": thresholded_relu,
             "ScaledTanh": scaled_tanh, "HardSigmoid": hard_sigmoid, "Elu": elu,
             "Softsign": softsign, "Softplus": softplus}


@dataclass(frozen=True)
class OnnxActivation:
    """One ONNX activation with its parameters, callable on a NumPy array (in its dtype).

    Attributes:
        name: the ONNX name ("HardSigmoid").
        alpha, beta: the parameters it takes (None for those it does not).
        clip: None, or the input is clipped to [-clip, clip] first: how onnxruntime applies
            the LSTM's ``clip`` attribute to f and g (see lstm_ref.frameworks.onnx.twin).
    """

    name: str
    alpha: float | None = None
    beta: float | None = None
    clip: float | None = None

    @property
    def __name__(self):  # noqa: PLW3201 - lstm_ref.activations.get names a callable by it
        params = ", ".join(f"{k}={v:.9g}" for k, v in (("alpha", self.alpha), ("beta", self.beta))
                           if v is not None)
        text = f"{self.name}({params})" if params else self.name
        return text if self.clip is None else f"{text} after clip({self.clip:.9g})"

    def __call__(self, x):
        if self.clip is not None:
            x = np.clip(x, -self.clip, self.clip)
        return FUNCTIONS[self.name](x, self.alpha, self.beta)

    def unclipped(self):
        """The same activation without the clip."""
        return OnnxActivation(self.name, self.alpha, self.beta)


def canonical_name(name, where):
    """The spec's spelling of an activation name (onnxruntime also accepts any case), or
    ActivationError naming the ones we implement."""
    text = name.decode() if isinstance(name, bytes) else str(name)
    for known in NAMES:
        if text.lower() == known.lower():
            return known
    raise ActivationError(f"{where}: activation {text!r} is not an ONNX LSTM activation we "
                          f"implement; expected one of {', '.join(NAMES)}")


def parse(names, alphas, betas, num_directions, semantics="onnxruntime"):
    """The node's activations as OnnxActivation triples (f, g, h), one per direction.

    Args:
        names: the ``activations`` attribute (empty: Sigmoid, Tanh, Tanh for each direction).
        alphas, betas: the ``activation_alpha`` / ``activation_beta`` attributes (lists).
        num_directions: 1, or 2 for a bidirectional node.
        semantics: "onnxruntime" or "spec": whose defaults fill a missing alpha / beta.

    Returns:
        A list with, per direction, a tuple (f, g, h) of OnnxActivation.
    """
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    names = names or list(DEFAULT_ACTIVATIONS) * num_directions
    if len(names) != 3 * num_directions:
        raise OptionError(f"activations must list 3 functions per direction (f, g, h), "
                          f"{3 * num_directions} for {num_directions} direction(s); received "
                          f"{len(names)}: {names}")
    defaults = ORT_DEFAULTS if semantics == "onnxruntime" else SPEC_DEFAULTS
    queues = {"activation_alpha": list(alphas), "activation_beta": list(betas)}
    parsed = []
    for index, raw in enumerate(names):
        role = f"activations[{index}] ({'fgh'[index % 3]} of direction {index // 3})"
        name = canonical_name(raw, role)
        values = []
        for attribute, takes, default in zip(queues, PARAMETERS[name],
                                             defaults.get(name, (None, None))):
            if not takes:
                values.append(None)
            elif queues[attribute]:
                values.append(float(queues[attribute].pop(0)))
            elif default is None:
                raise OptionError(f"{role} is {name}, which needs {attribute.split('_')[1]}; "
                                  f"{attribute} has no value left for it and the ONNX spec "
                                  "gives no default")
            else:
                values.append(default)
        parsed.append(OnnxActivation(name, *values))
    takers = ", ".join(n for n, p in PARAMETERS.items() if any(p))
    for attribute, left in queues.items():
        if left:
            raise OptionError(f"{attribute} has {len(left)} value(s) no activation takes "
                              f"({left}): each value goes to the next activation that takes "
                              f"that parameter ({takers}), so the model's meaning is "
                              f"ambiguous; received activations {[a.name for a in parsed]}")
    return [tuple(parsed[3 * d:3 * d + 3]) for d in range(num_directions)]


def as_ours(activation):
    """An lstm_ref Activation for an OnnxActivation: lstm_ref's own function where it is the
    same (sigmoid, tanh, relu, softsign, softplus, elu, linear), else the OnnxActivation."""
    key = (activation.name, activation.alpha, activation.beta)
    if activation.clip is None and key in _SAME_AS_OURS:
        return activations.get(_SAME_AS_OURS[key])
    return activations.get(activation)


def as_onnx(activation, what):
    """The OnnxActivation of an lstm_ref Activation (or name), or ActivationError if ONNX's LSTM
    has no equivalent."""
    activation = activations.get(activation)
    if isinstance(activation.fn, OnnxActivation):
        return activation.fn
    if activation.name in _OURS_AS_ONNX and activation.fn is activations.get(activation.name).fn:
        name, alpha, beta = _OURS_AS_ONNX[activation.name]
        return OnnxActivation(name, alpha, beta)
    raise ActivationError(f"{what} {activation.name!r} has no ONNX LSTM equivalent; ONNX's are "
                          f"{', '.join(NAMES)} (ours that map to them: "
                          f"{', '.join(sorted(_OURS_AS_ONNX))})")


def attributes(triples):
    """The ``activations``, ``activation_alpha`` and ``activation_beta`` attributes for a list
    of (f, g, h) OnnxActivation triples (alpha / beta lists omitted when empty)."""
    flat = [a for triple in triples for a in triple]
    result = {"activations": [a.name for a in flat]}
    alphas = [a.alpha for a in flat if PARAMETERS[a.name][0]]
    betas = [a.beta for a in flat if PARAMETERS[a.name][1]]
    if alphas:
        result["activation_alpha"] = alphas
    if betas:
        result["activation_beta"] = betas
    return result
