"""Generate PyTorch reference values for Myelin's convolution, pooling and BatchNorm2d tests.

Run from the repo root:

    /tmp/anchors/bin/python Tests/MyelinTests/Fixtures/make_conv_goldens.py

where /tmp/anchors is the venv created by `sh ../shared/anchors/setup.sh`.
Writes Tests/MyelinTests/Fixtures/conv_goldens.json next to this script.

Deterministic, as make_goldens.py: every input is `det(shape, a, f, p)`, element i (flat
row-major index) = a * sin(f * i + p). Computation in float64, stored with 9 significant
digits (float32 round-trip precision), one number list per line. Each case stores its inputs,
its arguments, the output, a fixed output gradient `grad_output` (also a `det` tensor) and
the gradients of sum(output * grad_output) with respect to every input. Tensors are
{"shape": [..], "data": [..]}, data flattened row-major.
"""
import json
import math
import os
import re

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def det(shape, a=1.0, f=0.7, p=0.3):
    """Closed-form tensor: element i (row-major) = a * sin(f * i + p)."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    return (a * torch.sin(f * i + p)).reshape(shape)


def T(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.reshape(-1).tolist()]}


def run(fn, inputs):
    """Output of fn(*inputs) and the gradients of sum(output * R) for a fixed R."""
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    r = det(list(out.shape), 1.0, 0.41, 0.2)
    (out * r).sum().backward()
    return out, r, [leaf.grad for leaf in leaves]


def case(name, fn, inputs, names, **args):
    out, r, grads = run(fn, inputs)
    entry = {"name": name, "args": args, "output": T(out), "grad_output": T(r)}
    for n, t, g in zip(names, inputs, grads):
        entry[n] = T(t)
        entry["grad_" + n] = T(g)
    return entry


# ---------------------------------------------------------------- conv2d
def conv2d_case(name, x_shape, w_shape, bias=True, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                groups=1):
    """padding: [top, left, bottom, right] (applied with F.pad, so it may be asymmetric) or "same"."""
    x = det(x_shape, 1.0, 0.37, 0.1)
    w = det(w_shape, 0.5, 0.53, 0.2)
    inputs, names = [x, w], ["x", "weight"]
    if bias:
        inputs.append(det([w_shape[0]], 0.3, 1.1, 0.4))
        names.append("bias")

    def fn(x, w, b=None):
        if padding == "same":
            return F.conv2d(x, w, b, stride=stride, padding="same", dilation=dilation, groups=groups)
        top, left, bottom, right = padding
        return F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride, dilation=dilation, groups=groups)

    return case(name, fn, inputs, names, stride=list(stride), padding=padding if padding == "same" else list(padding),
                dilation=list(dilation), groups=groups)


def conv2d_cases():
    return [
        conv2d_case("basic", [2, 3, 7, 6], [4, 3, 3, 3]),
        conv2d_case("stride 2, padding [1, 2]", [2, 3, 7, 8], [5, 3, 3, 3], stride=(2, 2), padding=(1, 2, 1, 2)),
        conv2d_case("dilation 2, stride [1, 2], no bias", [3, 2, 9, 8], [4, 2, 3, 2], bias=False, stride=(1, 2),
                    padding=(2, 1, 2, 1), dilation=(2, 2)),
        conv2d_case("groups 2", [2, 4, 6, 7], [6, 2, 3, 3], stride=(2, 2), padding=(1, 1, 1, 1), groups=2),
        conv2d_case("depthwise, same, dilation 2", [3, 3, 6, 5], [6, 1, 3, 3], bias=False, padding="same",
                    dilation=(2, 2), groups=3),
        conv2d_case("same, even kernel", [2, 2, 5, 6], [3, 2, 4, 2], padding="same"),
        conv2d_case("asymmetric padding", [1, 2, 5, 5], [3, 2, 3, 3], stride=(2, 1), padding=(0, 1, 2, 3)),
        conv2d_case("pointwise", [2, 6, 4, 3], [5, 6, 1, 1]),
    ]


# ---------------------------------------------------------------- conv1d
def conv1d_case(name, x_shape, w_shape, stride=1, padding=(0, 0), dilation=1, groups=1):
    x = det(x_shape, 1.0, 0.29, -0.3)
    w = det(w_shape, 0.6, 0.47, 0.5)
    b = det([w_shape[0]], 0.2, 0.9, 0.1)

    def fn(x, w, b):
        if padding == "same":
            return F.conv1d(x, w, b, stride=stride, padding="same", dilation=dilation, groups=groups)
        return F.conv1d(F.pad(x, padding), w, b, stride=stride, dilation=dilation, groups=groups)

    return case(name, fn, [x, w, b], ["x", "weight", "bias"], stride=stride,
                padding=padding if padding == "same" else list(padding), dilation=dilation, groups=groups)


def conv1d_cases():
    return [
        conv1d_case("stride 2, padding 1", [2, 3, 11], [4, 3, 3], stride=2, padding=(1, 1)),
        conv1d_case("groups 3, dilation 2, same", [2, 3, 9], [6, 1, 3], padding="same", dilation=2, groups=3),
        conv1d_case("padding [0, 2]", [1, 2, 7], [2, 2, 4], padding=(0, 2)),
    ]


# ---------------------------------------------------------------- conv_transpose2d
def conv_transpose2d_case(name, x_shape, w_shape, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                          groups=1, dilation=(1, 1), bias=True):
    x = det(x_shape, 1.0, 0.43, 0.7)
    w = det(w_shape, 0.5, 0.31, -0.2)
    inputs, names = [x, w], ["x", "weight"]
    if bias:
        inputs.append(det([w_shape[1] * groups], 0.3, 1.3, 0.2))
        names.append("bias")

    def fn(x, w, b=None):
        return F.conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding,
                                  groups=groups, dilation=dilation)

    return case(name, fn, inputs, names, stride=list(stride), padding=list(padding),
                output_padding=list(output_padding), groups=groups, dilation=list(dilation))


def conv_transpose2d_cases():
    return [
        conv_transpose2d_case("stride 2, padding 1, output padding 1", [2, 4, 3, 4], [4, 3, 3, 3], stride=(2, 2),
                              padding=(1, 1), output_padding=(1, 1)),
        conv_transpose2d_case("groups 2, dilation 2, no bias", [1, 4, 4, 3], [4, 2, 2, 3], groups=2,
                              dilation=(2, 2), bias=False),
        conv_transpose2d_case("output padding from dilation", [2, 2, 3, 3], [2, 3, 3, 2], stride=(1, 2),
                              padding=(1, 0), output_padding=(1, 1), dilation=(2, 1)),
        conv_transpose2d_case("kernel 2 stride 2", [2, 3, 4, 4], [3, 2, 2, 2], stride=(2, 2)),
    ]


# ---------------------------------------------------------------- pooling
def pool_cases():
    x = det([2, 3, 7, 8], 1.0, 0.83, 0.3)
    res = []
    for name, k, s, p, d in [("kernel 2", (2, 2), (2, 2), (0, 0), (1, 1)),
                             ("kernel 3 stride 2 padding 1", (3, 3), (2, 2), (1, 1), (1, 1)),
                             ("kernel [2, 3] stride 1 dilation 2", (2, 3), (1, 1), (0, 1), (2, 2))]:
        e = case(name, lambda x: F.max_pool2d(x, k, s, p, d), [x], ["x"], kernel=list(k), stride=list(s),
                 padding=list(p), dilation=list(d))
        _, idx = F.max_pool2d(x, k, s, p, d, return_indices=True)
        e["indices"] = T(idx.to(torch.float64))
        res.append(("max_pool2d", e))
    for name, k, s, p, inc in [("kernel 3 stride 2 padding 1", (3, 3), (2, 2), (1, 1), True),
                               ("kernel 3 stride 2 padding 1, exclude pad", (3, 3), (2, 2), (1, 1), False),
                               ("kernel [2, 3] stride [2, 1] padding [1, 0]", (2, 3), (2, 1), (1, 0), True)]:
        res.append(("avg_pool2d", case(name, lambda x: F.avg_pool2d(x, k, s, p, count_include_pad=inc), [x], ["x"],
                                       kernel=list(k), stride=list(s), padding=list(p), count_include_pad=inc)))
    for size in [(3, 5), (1, 1), (7, 3)]:
        res.append(("adaptive_avg_pool2d", case(f"output {list(size)}", lambda x: F.adaptive_avg_pool2d(x, size),
                                                [x], ["x"], output_size=list(size))))
    for scale in [(2, 2), (1, 3)]:
        res.append(("upsample_nearest2d",
                    case(f"scale {list(scale)}", lambda x: F.interpolate(x, scale_factor=scale, mode="nearest"),
                         [x], ["x"], scale=list(scale))))
    x6 = det([2, 6, 2, 3], 1.0, 0.61, 0.1)
    res.append(("channel_shuffle", case("groups 3", lambda x: F.channel_shuffle(x, 3), [x6], ["x"], groups=3)))
    res.append(("channel_shuffle", case("groups 2", lambda x: F.channel_shuffle(x, 2), [x6], ["x"], groups=2)))
    # Unpool the [2, 2] max pool of x to its default size and to one row and column more (flat indices).
    values, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    for size in [(6, 8), (7, 9)]:
        e = case(f"output {list(size)}", lambda v: F.max_unpool2d(v, idx, 2, 2, output_size=size), [values], ["x"],
                 output_size=list(size))
        e["indices"] = T(idx.to(torch.float64))
        res.append(("max_unpool2d", e))
    groups = {}
    for op, e in res:
        groups.setdefault(op, []).append(e)
    return groups


# ---------------------------------------------------------------- batch_norm2d
def batch_norm2d():
    """Two training steps of nn.BatchNorm2d(3, momentum=0.2) with set weight and bias, then eval."""
    bn = torch.nn.BatchNorm2d(3, eps=1e-5, momentum=0.2)
    with torch.no_grad():
        bn.weight.copy_(det([3], 0.5, 1.3, 0.9) + 1)
        bn.bias.copy_(det([3], 0.2, 0.7, 0.1))
    steps = []
    for k in range(2):
        x = (det([4, 3, 3, 5], 1.5, 0.37 + 0.1 * k, 0.2 * k) + 0.5 * k).requires_grad_(True)
        bn.zero_grad()
        out = bn(x)
        r = det(list(out.shape), 1.0, 0.41, 0.2)
        (out * r).sum().backward()
        steps.append({"x": T(x), "output": T(out), "grad_output": T(r), "grad_x": T(x.grad),
                      "grad_weight": T(bn.weight.grad), "grad_bias": T(bn.bias.grad),
                      "running_mean": T(bn.running_mean), "running_var": T(bn.running_var)})
    bn.eval()
    x = det([2, 3, 2, 2], 1.0, 0.9, 0.4)
    return {"momentum": 0.2, "eps": 1e-5, "weight": T(bn.weight), "bias": T(bn.bias), "steps": steps,
            "eval_x": T(x), "eval_output": T(bn(x))}


def main():
    goldens = {"conv2d": conv2d_cases(), "conv1d": conv1d_cases(), "conv_transpose2d": conv_transpose2d_cases(),
               **pool_cases(), "batch_norm2d": batch_norm2d()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_goldens.json")
    text = json.dumps(goldens, indent=1, allow_nan=False)
    # Lists of numbers on one line each: [\n  1.5,\n  2\n ] -> [1.5, 2]
    text = re.sub(r"\[\s*([-0-9.e,\s]*?)\s*\]", lambda m: "[" + re.sub(r",\s*", ", ", m.group(1)) + "]", text)
    with open(path, "w") as fh:
        fh.write(text + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
