"""Generate PyTorch reference values ("goldens") for the Myelin test suite.

Run from the repo root:

    /tmp/anchors/bin/python Tests/MyelinTests/Fixtures/make_goldens.py

where /tmp/anchors is the venv created by `sh ../shared/anchors/setup.sh`.
Writes Tests/MyelinTests/Fixtures/goldens.json next to this script.

Fully deterministic: no random numbers anywhere. Every input is built by
`det(shape, a, f, p)`, i.e. element i (flat row-major index) equals
`a * sin(f * i + p)`, optionally shifted/squashed as noted at each call site.
All computation is in torch float64; the JSON stores plain floats at full
(round-trip) precision. Every tensor is stored as {"shape": [..], "data": [..]}
with data flattened row-major.
"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)


def det(shape, a=1.0, f=0.7, p=0.3):
    """Closed-form tensor: element i (row-major) = a * sin(f * i + p)."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    return (a * torch.sin(f * i + p)).reshape(shape)


def T(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


# ---------------------------------------------------------------- optimizers
# Problem: loss(W, b) = mean((X @ W.T + b - Y)**2) over all 15 elements.
X = det([5, 4], 1.0, 0.7, 0.3)
Y = det([5, 3], 0.5, 1.1, -0.2)
W0 = det([3, 4], 0.3, 0.9, 0.5)
b0 = det([3], 0.1, 1.3, 0.1)

OPT_CONFIGS = [  # (name, torch class, hyper) -- hyper holds everything passed to torch
    ("sgd", "SGD", dict(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0)),
    ("sgd_wd", "SGD", dict(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.05)),
    ("momentum", "SGD", dict(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)),
    ("momentum_wd", "SGD", dict(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.05)),
    ("nesterov", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0)),
    ("nesterov_wd", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("adagrad", "Adagrad", dict(lr=0.1, eps=1e-10, weight_decay=0.0)),
    ("adagrad_wd", "Adagrad", dict(lr=0.1, eps=1e-10, weight_decay=0.05)),
    ("adadelta", "Adadelta", dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0)),
    ("adadelta_wd", "Adadelta", dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.05)),
    ("rmsprop", "RMSprop", dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0)),
    ("rmsprop_wd", "RMSprop", dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.05)),
    ("rmsprop_momentum", "RMSprop",
     dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.9, weight_decay=0.0)),
    ("adam", "Adam", dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)),
    ("adam_wd", "Adam", dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05)),
    ("adamw", "AdamW", dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05)),
]


def run_optimizer(cls_name, hyper, steps=5):
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    kw = dict(hyper)
    if "beta1" in kw:
        kw["betas"] = (kw.pop("beta1"), kw.pop("beta2"))
    opt = getattr(torch.optim, cls_name)([W, b], **kw)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.mean((X @ W.T + b - Y) ** 2)
        loss.backward()
        opt.step()
        out.append({"loss": loss.item(), "W": T(W), "b": T(b)})
    return out


def optimizers():
    return [{"name": n, "hyper": h, "steps": run_optimizer(c, h)} for n, c, h in OPT_CONFIGS]


# ---------------------------------------------------------------- schedulers
SCHED_CONFIGS = [
    ("step", "StepLR", dict(step_size=3, gamma=0.5)),
    ("exponential", "ExponentialLR", dict(gamma=0.9)),
    ("cosine", "CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),
]


def schedulers(base_lr=0.1, epochs=12):
    res = []
    for name, cls_name, hyper in SCHED_CONFIGS:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=base_lr)
        sched = getattr(torch.optim.lr_scheduler, cls_name)(opt, **hyper)
        lrs = []
        for _ in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])  # lr used during this epoch
            opt.step()  # (no grad -> no-op; avoids the "scheduler before optimizer" warning)
            sched.step()  # default recursive form
        res.append({"name": name, "hyper": hyper, "base_lr": base_lr, "lrs": lrs})
    return res


# ---------------------------------------------------------------- mlp
def mlp():
    """Linear(4,6) -> Tanh -> Linear(6,3), CrossEntropyLoss (mean)."""
    x = det([5, 4], 1.0, 0.37, 0.1).requires_grad_(True)
    targets = [(2 * i) % 3 for i in range(5)]  # [0, 2, 1, 0, 2]
    w1 = det([6, 4], 0.5, 0.53, 0.2).requires_grad_(True)
    b1 = det([6], 0.1, 0.9, -0.4).requires_grad_(True)
    w2 = det([3, 6], 0.6, 0.61, 0.7).requires_grad_(True)
    b2 = det([3], 0.2, 1.7, 0.5).requires_grad_(True)
    logits = torch.tanh(x @ w1.T + b1) @ w2.T + b2
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets))
    loss.backward()
    return {"x": T(x), "targets": targets, "w1": T(w1), "b1": T(b1), "w2": T(w2), "b2": T(b2),
            "loss": loss.item(), "logits": T(logits),
            "grad_w1": T(w1.grad), "grad_b1": T(b1.grad), "grad_w2": T(w2.grad),
            "grad_b2": T(b2.grad), "grad_x": T(x.grad)}


# ---------------------------------------------------------------- losses
def binary(shape, f=1.3, p=0.4):
    """{0,1} targets: 1 where sin(f*i + p) > 0."""
    return (det(shape, 1.0, f, p) > 0).to(torch.float64)


def loss_entry(name, fn, inp, target, extra=None):
    inp = inp.clone().requires_grad_(True)
    extra = {k: v.clone().requires_grad_(True) for k, v in (extra or {}).items()}
    value = fn(inp, target, **extra)
    value.backward()
    e = {"name": name, "input": T(inp), "target": T(target),
         "extra": {k: T(v) for k, v in extra.items()}, "value": value.item(),
         "grad_input": T(inp.grad)}
    for k, v in extra.items():
        e["grad_" + k] = T(v.grad)
    return e


def losses():
    F = torch.nn.functional
    # l1: target = input + (0.3 + 0.2*cos(i)) offset, so no element has input == target
    l1_in = det([4, 3], 1.0, 0.8, 0.1)
    l1_tg = l1_in + (0.3 + 0.2 * torch.cos(torch.arange(12.0))).reshape(4, 3) * torch.sign(
        det([4, 3], 1.0, 2.1, 0.5))
    # bce: probabilities 0.5 + 0.45*sin(...) lies in [0.05, 0.95]; keep strictly inside
    bce_in = 0.5 + 0.44 * det([4, 3], 1.0, 0.9, 0.2)
    # bce_with_logits: 4*sin(...) in [-4, 4] with two saturating entries 30 and -30
    bwl_in = det([4, 3], 4.0, 0.75, 0.3)
    bwl_in[1, 1], bwl_in[2, 2] = 30.0, -30.0
    # cross_entropy: logits 2*sin(...) with one large entry 50
    ce_in = det([4, 5], 2.0, 0.65, -0.1)
    ce_in[2, 3] = 50.0
    ce_tg = torch.tensor([1.0, 4.0, 3.0, 0.0])  # class indices stored as floats
    # gaussian nll: var = 0.5 + 0.4*sin(...) in [0.1, 0.9]
    g_in, g_tg = det([4, 3], 1.0, 0.6, 0.2), det([4, 3], 0.8, 1.2, -0.3)
    g_var = 0.5 + 0.4 * det([4, 3], 1.0, 0.85, 0.9)
    nll = torch.nn.GaussianNLLLoss(full=False, eps=1e-6)
    nll_full = torch.nn.GaussianNLLLoss(full=True, eps=1e-6)
    return [
        loss_entry("mse", F.mse_loss, det([4, 3], 1.0, 0.7, 0.3), det([4, 3], 0.6, 1.1, 0.9)),
        loss_entry("l1", F.l1_loss, l1_in, l1_tg),
        loss_entry("bce", F.binary_cross_entropy, bce_in, binary([4, 3])),
        loss_entry("bce_with_logits", F.binary_cross_entropy_with_logits, bwl_in,
                   binary([4, 3], 1.7, -0.2)),
        loss_entry("cross_entropy", lambda i, t: F.cross_entropy(i, t.long()), ce_in, ce_tg),
        loss_entry("gaussian_nll", lambda i, t, var: nll(i, t, var), g_in, g_tg, {"var": g_var}),
        loss_entry("gaussian_nll_full", lambda i, t, var: nll_full(i, t, var), g_in, g_tg,
                   {"var": g_var}),
    ]


# ---------------------------------------------------------------- clip
def clip(max_norm=1.0):
    grads = [det([2, 3], 0.8, 0.9, 0.1), det([4], 0.6, 1.4, 0.8), det([3, 3], 0.5, 0.55, -0.6)]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return {"grads_before": [T(g) for g in grads], "max_norm": max_norm,
            "total_norm": total.item(), "grads_after": [T(p.grad) for p in params]}


# ---------------------------------------------------------------- main
def main():
    goldens = {
        "problem": {"X": T(X), "Y": T(Y), "W0": T(W0), "b0": T(b0),
                    "loss": "mean((X @ W.T + b - Y)**2) over all 15 elements"},
        "optimizers": optimizers(),
        "schedulers": schedulers(),
        "mlp": mlp(),
        "losses": losses(),
        "clip": clip(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens.json")
    with open(path, "w") as fh:
        json.dump(goldens, fh, indent=1, allow_nan=False)  # repr floats = full precision
        fh.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
