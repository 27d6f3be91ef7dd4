"""Layers with forward/backward: Linear, the nonlinearities, and the softmax cross-entropy loss.

Every layer has `forward(x)`, `backward(dout) -> dx`, and dicts `params` / `grads` with the
same keys (empty for layers without parameters), so one optimizer updates any of them.
"""
import numpy as np

INITS = ("small", "xavier", "he")


def init_weights(fan_in, fan_out, init="small", rng=None, scale=None):
    """A (fan_in, fan_out) weight matrix.

    init="small": N(0, scale^2) with scale=0.01 by default ("small random Gaussian values", the
    BN paper's MNIST experiment); "xavier": N(0, 2/(fan_in+fan_out)) (Glorot & Bengio, 2010);
    "he": N(0, 2/fan_in) (He et al., 2015). `scale` multiplies the Xavier/He std when given.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    rng = np.random.default_rng(rng)
    if init == "small":
        std = 0.01 if scale is None else scale
    else:
        std = np.sqrt(2.0 / (fan_in + fan_out)) if init == "xavier" else np.sqrt(2.0 / fan_in)
        std = std * (1.0 if scale is None else scale)
    return rng.normal(0.0, std, size=(fan_in, fan_out))


class Linear:
    """Fully connected layer: out = x @ W + b; x: (N, in_features) -> out: (N, out_features).

    input_grad=False: backward returns None instead of d loss / dx. For a network's first
    layer, whose input is the data, that gradient is never used and costs as much as the
    weight gradient (PyTorch likewise computes no gradient for data).
    """

    def __init__(self, in_features, out_features, bias=True, init="small", scale=None, rng=None,
                 input_grad=True):
        self.in_features, self.out_features = in_features, out_features
        self.input_grad = input_grad
        self.params = {"W": init_weights(in_features, out_features, init, rng, scale)}
        if bias:
            self.params["b"] = np.zeros(out_features)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x = None

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Linear expected x of shape (N, {self.in_features}), "
                             f"got {x.shape}")
        self._x = x
        out = x @ self.params["W"]
        return out + self.params["b"] if "b" in self.params else out

    def backward(self, dout):
        """dout: (N, out_features). Fills grads; returns d loss / dx (N, in_features), or
        None if this layer was made with input_grad=False."""
        self.grads["W"][...] = self._x.T @ dout
        if "b" in self.params:
            self.grads["b"][...] = dout.sum(axis=0)
        return dout @ self.params["W"].T if self.input_grad else None

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={'b' in self.params})"


class Activation:
    """Base class of the elementwise nonlinearities; keeps its last input and output.

    The training recorder reads `x` (the input to the nonlinearity) and `out` from here, so
    recording activations costs no extra forward pass.
    """
    name = "activation"

    def __init__(self):
        self.params, self.grads = {}, {}      # no parameters (per layer, never shared)

    def forward(self, x):
        self.x = x
        self.out = self.f(x)
        return self.out

    def backward(self, dout):
        return dout * self.df()

    def saturated(self, out):
        """Boolean mask of units whose local gradient is (nearly) zero."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Sigmoid(Activation):
    name = "sigmoid"
    out_range = (0.0, 1.0)

    def f(self, x):
        with np.errstate(over="ignore"):    # exp(-x) = inf for x < -709 gives the right limit 0
            return 1.0 / (1.0 + np.exp(-x))

    def df(self):
        return self.out * (1.0 - self.out)

    def saturated(self, out):
        return (out < 0.01) | (out > 0.99)   # sigmoid'(x) < 0.0099, i.e. |x| > 4.6


class Tanh(Activation):
    name = "tanh"
    out_range = (-1.0, 1.0)

    def f(self, x):
        return np.tanh(x)

    def df(self):
        return 1.0 - self.out**2

    def saturated(self, out):
        return np.abs(out) > 0.99


class ReLU(Activation):
    name = "relu"
    out_range = (0.0, 4.0)

    def f(self, x):
        return np.maximum(x, 0.0)

    def df(self):
        return (self.x > 0).astype(self.x.dtype)

    def saturated(self, out):
        return out <= 0.0                    # a unit at zero passes no gradient


ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}


def softmax(logits):
    """Row-wise softmax of (N, K) logits, shifted by the row max so exp never overflows."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy of (N, K) logits against integer labels y (N,).

    Returns (loss, dlogits): the scalar loss and its gradient (N, K) with respect to logits.
    """
    y = np.asarray(y)
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ValueError(f"expected logits (N, K) and labels (N,), got {logits.shape} and "
                         f"{y.shape}")
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), y] -= 1.0
    return loss, dlogits / n
