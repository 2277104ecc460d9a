"""PyTorch twins of Myelin's ResNet-mini and MobileNet-mini, with Myelin's trained weights, exported
to ONNX for ONNX Runtime's C API (../shared/anchors/ort_c).

Usage: /tmp/anchors/bin/python bench/cnn-export/twins.py DIR
Needs DIR/{resnet,mobilenet}.{index,weights,expected} written by
`CNN_TWIN_DIR=DIR .build/debug/CNNExportBench STEPS LIB resnet mobilenet`. Loads each state
dict (same names as Myelin's), checks the twin's logits on the first two test images against
Myelin's, and writes DIR/{resnet,mobilenet}.onnx (fp32, dynamic batch, as ort_infer.py exports).
The architectures mirror Sources/Myelin/Models/ResNetMini.swift and MobileNetMini.swift layer
for layer.
"""
import sys
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, "/work/shared/anchors")
from fmnist import load  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.projection = None
        if stride != 1 or cin != cout:
            self.projection = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.projection(x) if self.projection is not None else x))


class ResNetMini(nn.Module):
    def __init__(self, widths=(32, 64, 128), classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.MaxPool2d(2))
        layers = [BasicBlock(widths[0], widths[0])] + [BasicBlock(widths[i - 1], widths[i], 2) for i in range(1, len(widths))]
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.depthwise = nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU())
        self.pointwise = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MobileNetMini(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(DepthwiseSeparable(16, 32, 2), DepthwiseSeparable(32, 64), DepthwiseSeparable(64, 128, 2),
                                    DepthwiseSeparable(128, 128))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def main(out):
    _, _, xte, _ = load()
    for name, model in [("resnet", ResNetMini()), ("mobilenet", MobileNetMini())]:
        raw = np.fromfile(f"{out}/{name}.weights", dtype="<f4")
        state, at = {}, 0
        for line in open(f"{out}/{name}.index"):
            key, *dims = line.split()
            n = int(np.prod([int(d) for d in dims])) if dims else 1
            state[key] = torch.from_numpy(raw[at:at + n].reshape([int(d) for d in dims]).copy())
            at += n
        assert at == raw.size, f"{name}: index covers {at} of {raw.size} floats"
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
        model.eval()
        with torch.no_grad():
            y = model(torch.from_numpy(xte[:2, None].copy())).numpy().ravel()
        expected = np.fromfile(f"{out}/{name}.expected", dtype="<f4")
        diff = float(np.abs(y - expected).max())
        print(f"{name}: twin against Myelin's logits, max |difference| {diff:.2e}")
        assert diff < 1e-3, f"{name}: the twin does not reproduce Myelin's model"
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), f"{out}/{name}.onnx", input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)
        print(f"wrote {out}/{name}.onnx")


if __name__ == "__main__":
    main(sys.argv[1])
