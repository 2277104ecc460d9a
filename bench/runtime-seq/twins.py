"""PyTorch twins of the sequence benchmark's models, their ONNX exports for ONNX Runtime, and
their weights as Myelin state files (.mst), so Myelin and ONNX Runtime run the same models.

    /tmp/anchors/bin/python bench/runtime-seq/twins.py OUT_DIR

Writes OUT_DIR/lstm.{mst,onnx}: LSTM(256, 256), batch first, ONNX inputs x [1, 1, 256],
h0, c0 [1, 1, 256] → y, hn, cn (a stateless runtime passes the state in and out); and
OUT_DIR/transformer.{mst,onnx}: a decoder-only character Transformer (vocabulary 96, width
128, 4 heads, 2 pre-norm layers with GELU feed-forward 512, learned positions, context 128),
ONNX input tokens int64 [1, L] (L dynamic) → logits [1, L, 96]. Plus reference outputs
(*.ref.f32) that bench/runtime-seq/models checks the Myelin bundles against.
"""
import math
import struct
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, WIDTH, HEADS, LAYERS, FF, CONTEXT, HIDDEN = 96, 128, 4, 2, 512, 128, 256


class Block(nn.Module):
    """nn.TransformerEncoderLayer(norm_first=True, activation="gelu", dropout=0) with the same
    parameter names, written out so that the ONNX export keeps the length dynamic (the
    exporter bakes the traced length into nn.MultiheadAttention's reshapes)."""

    def __init__(self):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(WIDTH, FF), nn.Linear(FF, WIDTH)
        self.norm1, self.norm2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)

    def forward(self, x, mask):
        b, d = x.shape[0], WIDTH // HEADS
        q, k, v = F.linear(self.norm1(x), self.self_attn.in_proj_weight, self.self_attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, -1, HEADS, d).transpose(1, 2) for t in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + mask, dim=-1)
        x = x + self.self_attn.out_proj((weights @ v).transpose(1, 2).reshape(b, -1, WIDTH))
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class CharTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.position = nn.Embedding(CONTEXT, WIDTH)   # its `weight` is Myelin's LearnedPositionalEncoding.weight
        self.layers = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, tokens):
        n = tokens.shape[1]
        h = self.embed(tokens) + self.position.weight[:n]
        mask = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        for layer in self.layers:
            h = layer(h, mask)
        return self.head(self.norm(h))


class LSTMStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(HIDDEN, HIDDEN, batch_first=True)

    def forward(self, x, h0, c0):
        y, (h, c) = self.lstm(x, (h0, c0))
        return y, h, c


def write_mst(path, state, prefix_strip=""):
    out = bytearray(b"MYST") + struct.pack("<II", 1, len(state))
    for name, t in state.items():
        name = name[len(prefix_strip):] if name.startswith(prefix_strip) else name
        data = t.detach().contiguous().float().numpy()
        raw = name.encode()
        out += struct.pack("<I", len(raw)) + raw + struct.pack("<I", data.ndim)
        out += b"".join(struct.pack("<Q", d) for d in data.shape) + data.tobytes()
    out += struct.pack("<I", zlib.crc32(bytes(out)) & 0xFFFFFFFF)
    open(path, "wb").write(bytes(out))


def main(out):
    torch.manual_seed(0)
    lstm = LSTMStep().eval()
    # Myelin's LSTM module holds the parameters directly (weight_ih_l0, …).
    write_mst(f"{out}/lstm.mst", lstm.state_dict(), prefix_strip="lstm.")
    x, h0 = torch.randn(1, 1, HIDDEN), torch.zeros(1, 1, HIDDEN)
    torch.onnx.export(lstm, (x, h0, h0), f"{out}/lstm.onnx", input_names=["x", "h0", "c0"],
                      output_names=["y", "hn", "cn"], opset_version=17, dynamo=False)
    seq = torch.randn(1, 16, HIDDEN)
    with torch.no_grad():
        y, _, _ = lstm(seq, torch.zeros(1, 1, HIDDEN), torch.zeros(1, 1, HIDDEN))
    open(f"{out}/lstm.input.f32", "wb").write(seq.numpy().tobytes())
    open(f"{out}/lstm.ref.f32", "wb").write(y.numpy().tobytes())

    model = CharTransformer().eval()
    write_mst(f"{out}/transformer.mst", model.state_dict())
    tokens = torch.randint(0, VOCAB, (1, CONTEXT))
    torch.onnx.export(model, (tokens[:, :8],), f"{out}/transformer.onnx", input_names=["tokens"], output_names=["logits"],
                      dynamic_axes={"tokens": {1: "length"}, "logits": {1: "length"}}, opset_version=17, dynamo=False)
    with torch.no_grad():
        logits = model(tokens)
    open(f"{out}/transformer.tokens.i32", "wb").write(tokens.int().numpy().tobytes())
    open(f"{out}/transformer.ref.f32", "wb").write(logits.numpy().tobytes())
    print(f"wrote {out}/lstm.{{mst,onnx}} and {out}/transformer.{{mst,onnx}} (torch {torch.__version__})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/myelin-seq-bench")
