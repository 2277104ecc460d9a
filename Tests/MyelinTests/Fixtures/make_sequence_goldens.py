"""PyTorch reference values for Myelin's sequence models (issue 12).

Run from the repo root:

    /tmp/anchors/bin/python Tests/MyelinTests/Fixtures/make_sequence_goldens.py

Writes Tests/MyelinTests/Fixtures/sequence_goldens.json next to this script.

Deterministic: every input and every parameter is `det(shape, a, f, p)` (element i of the
flattened tensor is a * sin(f * i + p)), computed in float64. Each case stores the module's
parameters under PyTorch's state-dict names (the Swift test loads them into the Myelin layer
by the same names), the inputs, the outputs and the gradients of
L = sum_k sum(output_k * det(output_k.shape, 1, 0.37, 0.5 + 0.1 * k)) with respect to every
parameter and input. Tensors are {"shape": [...], "data": [...]} row-major.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def det(shape, a=1.0, f=0.7, p=0.3):
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    return (a * torch.sin(f * i + p)).reshape(shape)


def T(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def set_params(module, scale=0.4):
    """Overwrite every parameter with det values (distinct phase per parameter)."""
    with torch.no_grad():
        for k, (name, p) in enumerate(module.named_parameters()):
            p.copy_(det(list(p.shape), scale, 0.53 + 0.01 * k, 0.2 * k))
    return {name: T(p) for name, p in module.named_parameters()}


def probe_loss(outputs):
    return sum((o * det(list(o.shape), 1.0, 0.37, 0.5 + 0.1 * k)).sum() for k, o in enumerate(outputs))


def grads(module, inputs):
    g = {name: T(p.grad) for name, p in module.named_parameters()}
    for name, x in inputs.items():
        if x.grad is not None:
            g["input:" + name] = T(x.grad)
    return g


def recurrent_case(name, cls, kw, seq, batch, with_state):
    torch.manual_seed(0)
    m = cls(**kw)
    params = set_params(m)
    dirs = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    h = kw["hidden_size"]
    x_shape = [batch, seq, kw["input_size"]] if kw.get("batch_first") else [seq, batch, kw["input_size"]]
    x = det(x_shape, 1.0, 0.61, 0.4).requires_grad_(True)
    inputs = {"x": x}
    state = None
    if with_state:
        h0 = det([layers * dirs, batch, h], 0.5, 0.83, 0.9).requires_grad_(True)
        inputs["h0"] = h0
        if cls is torch.nn.LSTM:
            c0 = det([layers * dirs, batch, h], 0.5, 0.47, 1.3).requires_grad_(True)
            inputs["c0"] = c0
            state = (h0, c0)
        else:
            state = h0
    out, final = m(x, state) if state is not None else m(x)
    outs = [out] + (list(final) if isinstance(final, tuple) else [final])
    probe_loss(outs).backward()
    return {"name": name, "config": kw, "params": params, "inputs": {k: T(v) for k, v in inputs.items()},
            "outputs": [T(o) for o in outs], "grads": grads(m, inputs)}


cases = []
cases.append(recurrent_case("rnn_tanh", torch.nn.RNN,
                            dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True), 5, 2, True))
cases.append(recurrent_case("rnn_relu", torch.nn.RNN,
                            dict(input_size=3, hidden_size=4, nonlinearity="relu"), 4, 3, False))
cases.append(recurrent_case("lstm", torch.nn.LSTM,
                            dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), 5, 2, True))
cases.append(recurrent_case("lstm_batch_first", torch.nn.LSTM,
                            dict(input_size=2, hidden_size=3, batch_first=True), 4, 2, False))
cases.append(recurrent_case("gru", torch.nn.GRU,
                            dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True), 5, 2, True))
cases.append(recurrent_case("gru_single", torch.nn.GRU, dict(input_size=2, hidden_size=3), 4, 2, False))

# LayerNorm over the last two dims, and over the last one.
for name, shape, norm in [("layer_norm_1", [2, 3, 5], [5]), ("layer_norm_2", [2, 3, 4], [3, 4])]:
    m = torch.nn.LayerNorm(norm)
    params = set_params(m)
    x = det(shape, 1.3, 0.91, 0.2).requires_grad_(True)
    y = m(x)
    probe_loss([y]).backward()
    cases.append({"name": name, "config": {"normalized_shape": norm}, "params": params, "inputs": {"x": T(x)},
                  "outputs": [T(y)], "grads": grads(m, {"x": x})})

for name, approx in [("gelu", "none"), ("gelu_tanh", "tanh")]:
    x = det([3, 5], 2.5, 0.77, 0.1).requires_grad_(True)
    y = F.gelu(x, approximate=approx)
    probe_loss([y]).backward()
    cases.append({"name": name, "config": {}, "params": {}, "inputs": {"x": T(x)}, "outputs": [T(y)],
                  "grads": {"input:x": T(x.grad)}})

# Multi-head attention, batch first: cross-attention with a key padding mask, and causal
# self-attention (PyTorch's boolean masks: True = hidden, like Myelin's nonzero).
B, L, S, E, H = 2, 3, 4, 8, 2
m = torch.nn.MultiheadAttention(E, H, batch_first=True)
params = set_params(m)
q = det([B, L, E], 1.0, 0.71, 0.3).requires_grad_(True)
k = det([B, S, E], 1.0, 0.43, 0.8).requires_grad_(True)
v = det([B, S, E], 1.0, 0.29, 1.1).requires_grad_(True)
pad = torch.tensor([[False, False, False, True], [False, False, True, True]])
y, w = m(q, k, v, key_padding_mask=pad, need_weights=True, average_attn_weights=True)
probe_loss([y, w]).backward()
cases.append({"name": "mha_cross_padding", "config": {"embed_dim": E, "num_heads": H}, "params": params,
              "inputs": {"q": T(q), "k": T(k), "v": T(v), "key_padding_mask": T(pad.double())},
              "outputs": [T(y), T(w)], "grads": grads(m, {"q": q, "k": k, "v": v})})

m = torch.nn.MultiheadAttention(E, H, batch_first=True)
params = set_params(m)
x = det([B, S, E], 1.0, 0.57, 0.6).requires_grad_(True)
causal = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
y, w = m(x, x, x, attn_mask=causal, need_weights=True)
probe_loss([y, w]).backward()
cases.append({"name": "mha_self_causal", "config": {"embed_dim": E, "num_heads": H}, "params": params,
              "inputs": {"x": T(x)}, "outputs": [T(y), T(w)], "grads": grads(m, {"x": x})})

# Transformer layers, dropout 0, sequence first (PyTorch's default layout).
for name, norm_first, act in [("encoder_post_relu", False, "relu"), ("encoder_pre_gelu", True, "gelu")]:
    m = torch.nn.TransformerEncoderLayer(E, H, dim_feedforward=12, dropout=0.0, activation=act, norm_first=norm_first)
    params = set_params(m, 0.3)
    x = det([S, B, E], 1.0, 0.67, 0.2).requires_grad_(True)
    pad = torch.tensor([[False, False, False, True], [False, False, False, False]])
    y = m(x, src_mask=causal, src_key_padding_mask=pad)
    probe_loss([y]).backward()
    cases.append({"name": name, "config": {"norm_first": norm_first, "activation": act}, "params": params,
                  "inputs": {"x": T(x), "key_padding_mask": T(pad.double())}, "outputs": [T(y)], "grads": grads(m, {"x": x})})

for name, norm_first in [("decoder_post", False), ("decoder_pre", True)]:
    m = torch.nn.TransformerDecoderLayer(E, H, dim_feedforward=12, dropout=0.0, norm_first=norm_first)
    params = set_params(m, 0.3)
    tgt = det([L, B, E], 1.0, 0.67, 0.2).requires_grad_(True)
    memory = det([S, B, E], 1.0, 0.39, 0.5).requires_grad_(True)
    mem_pad = torch.tensor([[False, False, True, True], [False, False, False, False]])
    tmask = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)
    y = m(tgt, memory, tgt_mask=tmask, memory_key_padding_mask=mem_pad)
    probe_loss([y]).backward()
    cases.append({"name": name, "config": {"norm_first": norm_first}, "params": params,
                  "inputs": {"tgt": T(tgt), "memory": T(memory), "memory_key_padding_mask": T(mem_pad.double())},
                  "outputs": [T(y)], "grads": grads(m, {"tgt": tgt, "memory": memory})})

# Sequence cross-entropy with an ignore index.
logits = det([2, 3, 5], 2.0, 0.87, 0.4).requires_grad_(True)
targets = torch.tensor([[1, 4, -100], [0, -100, 2]])
loss = F.cross_entropy(logits.reshape(-1, 5), targets.reshape(-1), ignore_index=-100)
probe_loss([loss]).backward()
cases.append({"name": "sequence_cross_entropy", "config": {"ignore_index": -100}, "params": {},
              "inputs": {"logits": T(logits), "targets": T(targets.double())}, "outputs": [T(loss)],
              "grads": {"input:logits": T(logits.grad)}})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sequence_goldens.json")
with open(out, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f)
print("wrote", out, "with", len(cases), "cases")
