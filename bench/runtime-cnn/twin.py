"""The anchor CNN's trained weights for Myelin, and its ONNX twin for ONNX Runtime.

Usage: /tmp/anchors/bin/python bench/runtime-cnn/twin.py OUT_DIR
Needs /tmp/anchor_cnn.pt (../shared/anchors/torch_train.py cnn EPOCHS 1). Writes
OUT_DIR/anchor_cnn.onnx (fp32, dynamic batch, exported as ../shared/anchors/ort_infer.py does)
and OUT_DIR/anchor_cnn.weights: every state-dict tensor in order, as
"name dims...\\n" header lines in OUT_DIR/anchor_cnn.index and little-endian float32 data.
"""
import sys, os, numpy as np, torch, torch.nn as nn

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
m.load_state_dict(torch.load("/tmp/anchor_cnn.pt"))
m.eval()
torch.onnx.export(m, torch.zeros(1, 1, 28, 28), f"{out}/anchor_cnn.onnx", input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)
with open(f"{out}/anchor_cnn.index", "w") as index, open(f"{out}/anchor_cnn.weights", "wb") as data:
    for name, t in m.state_dict().items():
        index.write(" ".join([name] + [str(d) for d in t.shape]) + "\n")
        data.write(t.detach().numpy().astype("<f4").tobytes())
# A reference output for the first two test images, for the Swift side to check its copy.
from importlib import util
sys.path.insert(0, "/work/shared/anchors")
from fmnist import load
_, _, xte, _ = load()
with torch.no_grad():
    y = m(torch.from_numpy(xte[:2, None].copy())).numpy()
np.asarray(y, dtype="<f4").tofile(f"{out}/anchor_cnn.expected")
print(f"wrote {out}/anchor_cnn.onnx, .index, .weights, .expected")
