"""Engine benchmarks: one training step and batch norm forward+backward, against PyTorch.

    python benchmarks/engine.py [--quick]

- One SGD step (forward, loss, backward, update) of the paper's 784-100-100-100-10 sigmoid
  network with batch norm, batch size 60, float64, on real MNIST: ours against the same
  `torch.nn` net. Target: within 1.5x of PyTorch float64 (what a lesson's training costs).
- Batch norm forward + backward on x of shape (256, 1024), float64: our compact closed-form
  backward, our node-by-node graph backward, and PyTorch's `F.batch_norm` + autograd.
  Reported, not targeted: our batch norm is written to be read next to Algorithm 1 (one numpy
  operation per line of the math), and no lesson uses arrays this large.
- 3,000 training steps with activation recording (record_every=50) against none: the
  recorder's overhead.

Each of ours is timed in turns with PyTorch (A, B, A, B, ...) within one process, so a change
in machine load hits both alike and the ratio stays fair; we report medians. PyTorch is
optional (a benchmark figure, not a test): without it the comparison rows say so.
"""
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

# One thread for every library, set before numpy/torch load their thread pools: on a small
# shared machine, idle BLAS/OpenMP threads spin and steal the core the other library needs,
# which made two-thread timings swing 5x between runs. Override with e.g. THREADS=2.
THREADS = os.environ.get("THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))            # helpers from this checkout, installed or not

from helpers import (  # noqa: E402
    SGD,
    batchnorm_backward,
    batchnorm_backward_graph,
    batchnorm_forward,
    load_mnist,
    make_mlp,
    softmax_cross_entropy,
    train,
)

try:
    import torch
    torch.set_num_threads(int(THREADS))
except ImportError:
    torch = None


def interleaved(candidates, rounds, number):
    """Seconds per call of each candidate as (median, min) over `rounds` rounds; in each
    round every candidate runs `number` times back to back, candidates in turn."""
    samples = {name: [] for name in candidates}
    for fn in candidates.values():       # warm-up: caches, allocator, lazy imports
        fn()
    for _ in range(rounds):
        for name, fn in candidates.items():
            fn()        # untimed: re-warms the allocator after the other candidates (below)
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: (float(np.median(s)), float(np.min(s))) for name, s in samples.items()}


def batchnorm_candidates(n=256, c=1024, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, size=(n, c))
    gamma, beta = rng.normal(1.0, 0.1, size=c), rng.normal(0.0, 0.1, size=c)
    dout = rng.normal(size=(n, c))

    def compact():
        out, cache = batchnorm_forward(x, gamma, beta)
        return batchnorm_backward(dout, cache)

    def graph():
        out, cache = batchnorm_forward(x, gamma, beta)
        return batchnorm_backward_graph(dout, cache)

    candidates = {"ours, compact backward": compact, "ours, graph backward": graph}
    if torch is not None:
        for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
            xt = torch.tensor(x, dtype=dtype, requires_grad=True)
            gt = torch.tensor(gamma, dtype=dtype, requires_grad=True)
            bt = torch.tensor(beta, dtype=dtype, requires_grad=True)
            dt = torch.tensor(dout, dtype=dtype)

            def pytorch(xt=xt, gt=gt, bt=bt, dt=dt):
                out = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True,
                                                     eps=1e-5)
                return torch.autograd.grad(out, (xt, gt, bt), dt)
            candidates[f"PyTorch {label}"] = pytorch
    return candidates


def check_batchnorm_agrees():
    """The comparison is only fair if both compute the same thing: compare dx once."""
    if torch is None:
        return None
    cands = batchnorm_candidates(n=64, c=32)
    dx = cands["ours, compact backward"]()[0]
    dxt = cands["PyTorch float64"]()[0].numpy()
    return float(np.abs(dx - dxt).max() / np.abs(dxt).max())


def training_step_candidates(batch_size=60, lr=0.1, seed=0):
    X, y, _, _ = load_mnist()
    rng = np.random.default_rng(seed)
    batches = [rng.choice(len(X), batch_size, replace=False) for _ in range(50)]
    model = make_mlp(batchnorm=True, seed=seed)
    opt = SGD(model.parameters(), lr=lr)
    state = {"i": 0}

    def ours():
        idx = batches[state["i"] % len(batches)]
        state["i"] += 1
        loss, dlogits = softmax_cross_entropy(model.forward(X[idx]), y[idx])
        model.backward(dlogits)   # as PyTorch: no gradient for the data
        opt.step()
        return loss

    candidates = {"ours (float64)": ours}
    if torch is not None:
        for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
            candidates[f"PyTorch {label}"] = _torch_step(X, y, batches, dtype, lr, seed)
    return candidates


def _torch_step(X, y, batches, dtype, lr, seed):
    torch.manual_seed(seed)
    layers = []
    for fan_in, fan_out in ((784, 100), (100, 100), (100, 100)):
        layers += [torch.nn.Linear(fan_in, fan_out, bias=False),
                   torch.nn.BatchNorm1d(fan_out, momentum=0.1, eps=1e-5), torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(100, 10)).to(dtype).train()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    Xt, yt = torch.tensor(X, dtype=dtype), torch.tensor(y)
    tb = [(Xt[idx], yt[idx]) for idx in (torch.as_tensor(b) for b in batches)]
    state = {"i": 0}

    def step():
        xb, yb = tb[state["i"] % len(tb)]
        state["i"] += 1
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        return loss
    return step


def recording_overhead(num_steps=3000, record_every=50, rounds=2):
    """Seconds for `num_steps` training steps with and without recording (min over rounds)."""
    X, y, _, _ = load_mnist()
    times = {"without recording": [], f"record_every={record_every}": []}
    for _ in range(rounds):
        for label, every in ((list(times)[0], None), (list(times)[1], record_every)):
            model = make_mlp(batchnorm=True, seed=0)
            start = time.perf_counter()
            train(model, X, y, batch_size=60, lr=0.5, num_steps=num_steps, eval_every=0,
                  record_every=every)
            times[label].append(time.perf_counter() - start)
    return {k: min(v) for k, v in times.items()}


def environment():
    line = (f"Python {platform.python_version()}, numpy {np.__version__}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
            f"{THREADS} thread(s) per library")
    if torch is not None:
        return line + f", PyTorch {torch.__version__}"
    return line + ", PyTorch not installed"


def ratio_rows(results, ratios):
    """Markdown rows: results {name: (median s, min s)}, ratios {name: ours / PyTorch}."""
    rows = ["| implementation | median (ms) | min (ms) | ours / PyTorch float64 (median) |",
            "|---|---:|---:|---:|"]
    for name, (median, best) in results.items():
        ratio = f"{ratios[name]:.2f}x" if name in ratios else ""
        rows.append(f"| {name} | {1e3 * median:.3f} | {1e3 * best:.3f} | {ratio} |")
    return rows


def timed_against_pytorch(candidates, ours_names, rounds, number):
    """Time each of ours in turns with the PyTorch candidates, one group per ours: the graph
    backward's dozen (N, C) temporaries make glibc hand memory back to the OS, and whoever
    runs next pays the page faults, so sharing a group would charge one of ours for the
    other. Returns (results, ratios of median times to PyTorch float64 in the same group)."""
    pytorch = [n for n in candidates if n not in ours_names]
    results, ratios = {}, {}
    for ours in ours_names:
        group = interleaved({n: candidates[n] for n in [ours] + pytorch}, rounds, number)
        results[ours] = group[ours]
        for name in pytorch:
            results.setdefault(name, group[name])
        if "PyTorch float64" in group:
            ratios[ours] = group[ours][0] / group["PyTorch float64"][0]
    return results, ratios


# glibc's malloc hands a freed 2 MB array back to the OS when it sits at the top of the heap,
# so numpy's next 2 MB temporary is fresh memory and page-faults (PyTorch keeps its memory in
# a caching allocator). Padding the heap top keeps the memory in the process.
PADDED_HEAP = {"MALLOC_TOP_PAD_": str(64 << 20)}


def batchnorm_comparison(quick):
    return timed_against_pytorch(
        batchnorm_candidates(), ("ours, compact backward", "ours, graph backward"),
        rounds=7 if quick else 40, number=5)


def padded_heap_comparison(quick):
    """The batch-norm comparison again in a child process whose glibc heap is padded; None
    where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc" or os.environ.get("MALLOC_TOP_PAD_"):
        return None
    cmd = [sys.executable, __file__, "--batchnorm-json"] + (["--quick"] if quick else [])
    child = subprocess.run(cmd, env={**os.environ, **PADDED_HEAP}, capture_output=True,
                           text=True, check=True)
    return json.loads(child.stdout)


def main(args):
    quick = "--quick" in args
    if "--batchnorm-json" in args:
        print(json.dumps(batchnorm_comparison(quick)))
        return None
    out = [f"Engine benchmarks ({environment()})", ""]
    if torch is None:
        out += ["PyTorch is not installed here, so the PyTorch columns are skipped (it is "
                "optional; install it in another environment and run this script there to "
                "compare).", ""]

    step, ratios = timed_against_pytorch(training_step_candidates(), ("ours (float64)",),
                                         rounds=7 if quick else 40, number=20)
    out += ["One training step (forward, loss, backward, SGD update), 784-100-100-100-10 "
            "sigmoid + batch norm, batch size 60, MNIST; per step", ""]
    out += ratio_rows(step, ratios)
    if torch is not None:
        verdict = "met" if ratios["ours (float64)"] <= 1.5 else "NOT met"
        out += ["", f"(target: ours within 1.5x of PyTorch float64: {verdict})", ""]

    bn, ratios = batchnorm_comparison(quick)
    padded = padded_heap_comparison(quick)
    if padded:
        for name in ("ours, compact backward", "ours, graph backward"):
            label = f"{name}, heap padded (MALLOC_TOP_PAD_=64 MB)"
            bn[label] = padded[0][name]
            if name in padded[1]:
                ratios[label] = padded[1][name]
    out += ["Batch norm forward + backward, x (256, 1024), float64 unless named; per call "
            "(each of ours timed in turns with PyTorch; PyTorch rows from the first group)", ""]
    out += ratio_rows(bn, ratios)
    if padded:
        out += ["", "(heap padded: the same code in a process started with MALLOC_TOP_PAD_, "
                "so that glibc keeps freed memory instead of returning it to the OS and "
                "numpy's (256, 1024) temporaries do not page-fault; PyTorch keeps its memory "
                "in its own caching allocator either way)"]
    agree = check_batchnorm_agrees()
    if agree is not None:
        out += ["", f"(dx agrees with PyTorch's to a max relative difference of {agree:.1e}; "
                f"reported, not targeted: written for reading, see the docstring)"]

    steps = 600 if quick else 3000
    rec = recording_overhead(num_steps=steps, rounds=1 if quick else 3)
    base, with_rec = rec["without recording"], rec["record_every=50"]
    out += ["", f"Training {steps} steps (batch size 60, no evaluation), activation recording "
            "on and off; best of runs", "", "| run | seconds | per step (ms) |",
            "|---|---:|---:|"]
    out += [f"| {k} | {v:.2f} | {1e3 * v / steps:.2f} |" for k, v in rec.items()]
    out += ["", f"Recording overhead: {100 * (with_rec - base) / base:+.1f}%"]
    print("\n".join(out))
    return "\n".join(out)


if __name__ == "__main__":
    main(sys.argv[1:])
