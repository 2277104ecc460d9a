"""PyTorch twin of `myelin train --dataset fortunes --model char-lstm|char-transformer` (issue 12):
the same text split (every 10th fortune is validation), vocabulary, windows, architecture,
initialisation scheme, optimizer (Adam 1e-3), cosine schedule per epoch, batch and epochs.
Prints one line per epoch: wall and process-CPU seconds of the training pass, train loss and
validation bits per character (mean cross-entropy over all validation windows, in bits).

Usage: torch_char_lm.py lstm|transformer EPOCHS TRAIN_WINDOWS [THREADS] [--data DIR]
(defaults as the CLI: width 256 / 96, 1 / 3 layers, windows of 64 characters, batch 64)."""
import math, os, sys, time
import torch, torch.nn as nn

args = sys.argv[1:]
directory = "/usr/share/games/fortunes"
if "--data" in args:
    i = args.index("--data"); directory = args[i + 1]; del args[i:i + 2]
kind, epochs, limit = args[0], int(args[1]), int(args[2])
torch.set_num_threads(int(args[3]) if len(args) > 3 else 1)
torch.manual_seed(0)
L, B = 64, 64

# TextDataset.fortunes: plain files in name order, fortunes split at lines holding only "%".
documents = []
for name in sorted(os.listdir(directory)):
    path = os.path.join(directory, name)
    if name.endswith(".dat") or name.endswith(".u8") or os.path.isdir(path):
        continue
    text = open(path, "rb").read().decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    current = ""
    for line in lines:
        if line == "%":
            if current:
                documents.append(current)
            current = ""
        else:
            current += line + "\n"
    if current.strip():
        documents.append(current)
train_text = "".join(d + "%\n" for i, d in enumerate(documents) if (i + 1) % 10 != 0)
val_text = "".join(d + "%\n" for i, d in enumerate(documents) if (i + 1) % 10 == 0)
vocabulary = sorted(set(train_text) | set(val_text))
index = {c: i for i, c in enumerate(vocabulary)}
V = len(vocabulary)

def windows(text, limit=None):
    t = [index[c] for c in text]
    available = (len(t) - 1) // L
    n = min(available, limit or available)
    starts = [(w * available // n) * L for w in range(n)]
    x = torch.tensor([t[s:s + L] for s in starts]); y = torch.tensor([t[s + 1:s + L + 1] for s in starts])
    return x, y

xtr, ytr = windows(train_text, limit)
xva, yva = windows(val_text)

class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 64); self.lstm = nn.LSTM(64, 256, batch_first=True); self.head = nn.Linear(256, V)
    def forward(self, x):
        return self.head(self.lstm(self.embed(x))[0])

class CharTransformer(nn.Module):
    def __init__(self, d=96, depth=3):
        super().__init__()
        self.embed = nn.Embedding(V, d); nn.init.normal_(self.embed.weight, std=0.02)
        self.position = nn.Parameter(torch.randn(L, d) * 0.02)
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(d, 4, 4 * d, 0.1, activation="gelu", batch_first=True,
                                                               norm_first=True) for _ in range(depth))
        self.norm = nn.LayerNorm(d); self.head = nn.Linear(d, V)
        self.register_buffer("mask", torch.triu(torch.full((L, L), float("-inf")), 1))
    def forward(self, x):
        h = self.embed(x) + self.position[: x.shape[1]]
        for layer in self.layers:
            h = layer(h, src_mask=self.mask[: x.shape[1], : x.shape[1]], is_causal=True)
        return self.head(self.norm(h))

model = CharLSTM() if kind == "lstm" else CharTransformer()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
loss_fn = nn.CrossEntropyLoss()
print(f"torch char-{kind}: {len(xtr)} training windows, {len(xva)} validation windows of {L}, vocabulary {V}, "
      f"{sum(p.numel() for p in model.parameters())} parameters, {torch.get_num_threads()} thread(s)", flush=True)
for epoch in range(1, epochs + 1):
    model.train(); perm = torch.randperm(len(xtr)); t0 = time.perf_counter(); c0 = time.process_time(); total = 0.0
    for i in range(0, len(xtr), B):
        idx = perm[i:i + B]
        opt.zero_grad()
        loss = loss_fn(model(xtr[idx]).reshape(-1, V), ytr[idx].reshape(-1))
        loss.backward(); opt.step(); total += loss.item() * len(idx)
    wall = time.perf_counter() - t0; cpu = time.process_time() - c0
    schedule.step()
    model.eval(); val = 0.0
    with torch.no_grad():
        for i in range(0, len(xva), 256):
            val += loss_fn(model(xva[i:i + 256]).reshape(-1, V), yva[i:i + 256].reshape(-1)).item() * len(xva[i:i + 256])
    print(f"RESULT torch char-{kind} epoch {epoch} wall_s {wall:.2f} cpu_s {cpu:.2f} train_loss {total / len(xtr):.4f} "
          f"val_bits {val / len(xva) / math.log(2):.4f}", flush=True)
