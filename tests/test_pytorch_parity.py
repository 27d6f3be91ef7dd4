"""The engine against PyTorch: the BN paper's MNIST network (784-100-100-100-10, sigmoid, batch
norm before every sigmoid) trained by SGD with heavy-ball momentum gives PyTorch's numbers step
for step: the same loss, the same weights and the same running statistics (float64).

Skipped where torch is not installed (it is not a dependency of the course; install it from
PyPI to run this test). benchmarks/engine.py times the same network against PyTorch.
"""
import numpy as np
import pytest

from helpers import SGD, BatchNorm, Linear, load_mnist, make_mlp, softmax_cross_entropy

torch = pytest.importorskip("torch")

STEPS, BATCH, LR, MOMENTUM = 25, 60, 0.5, 0.9


def torch_copy(model):
    """A torch.nn.Sequential float64 copy of `model` (Linear / BatchNorm1d / Sigmoid)."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, Linear):
            lin = torch.nn.Linear(layer.in_features, layer.out_features,
                                  bias="b" in layer.params, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(layer.params["W"].T))
                if "b" in layer.params:
                    lin.bias.copy_(torch.tensor(layer.params["b"]))
            layers.append(lin)
        elif isinstance(layer, BatchNorm):
            layers.append(torch.nn.BatchNorm1d(layer.num_features, momentum=layer.momentum,
                                               eps=layer.eps, dtype=torch.float64))
        else:
            layers.append(torch.nn.Sigmoid())
    return torch.nn.Sequential(*layers).train()


def test_training_matches_pytorch_step_for_step():
    X, y, _, _ = load_mnist()
    X, y = X[:2000], y[:2000]
    model = make_mlp(batchnorm=True, seed=0)           # 784-100-100-100-10, the paper's net
    net = torch_copy(model)
    ours = SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    theirs = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    rng = np.random.default_rng(0)
    for step in range(STEPS):
        idx = rng.choice(len(X), BATCH, replace=False)
        loss, dlogits = softmax_cross_entropy(model.forward(X[idx]), y[idx])
        model.backward(dlogits)
        ours.step()
        theirs.zero_grad()
        torch_loss = torch.nn.functional.cross_entropy(net(torch.tensor(X[idx])),
                                                       torch.tensor(y[idx]))
        torch_loss.backward()
        theirs.step()
        assert loss == pytest.approx(torch_loss.item(), rel=1e-10), f"loss at step {step}"
    pairs = list(zip(model.layers, net))
    for layer, twin in pairs:
        if isinstance(layer, Linear):
            np.testing.assert_allclose(layer.params["W"], twin.weight.detach().numpy().T,
                                       rtol=1e-8, atol=1e-12)
        elif isinstance(layer, BatchNorm):
            for ours_, theirs_ in ((layer.gamma, twin.weight), (layer.beta, twin.bias),
                                   (layer.running_mean, twin.running_mean),
                                   (layer.running_var, twin.running_var)):
                np.testing.assert_allclose(ours_, theirs_.detach().numpy(), rtol=1e-8,
                                           atol=1e-12)
    # eval mode: both use their running statistics
    net.eval()
    np.testing.assert_allclose(model.eval().forward(X[:200]),
                               net(torch.tensor(X[:200])).detach().numpy(), rtol=1e-8,
                               atol=1e-10)
