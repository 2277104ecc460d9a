"""The anchor's cnn workload (../shared/anchors/torch_train.py cnn, same model, data, optimizer,
batch and seed), timed by process CPU as well as wall clock, for a machine too busy for wall
times. Usage: torch_cpu.py EPOCHS THREADS"""
import sys, time, torch, torch.nn as nn, numpy as np
sys.path.insert(0, "/work/shared/anchors")
from fmnist import load
epochs = int(sys.argv[1]); torch.set_num_threads(int(sys.argv[2]))
torch.manual_seed(0); np.random.seed(0)
xtr, ytr, xte, yte = load()
m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
Xtr = torch.from_numpy(xtr).unsqueeze(1); Ytr = torch.from_numpy(ytr); Xte = torch.from_numpy(xte).unsqueeze(1); Yte = torch.from_numpy(yte)
opt = torch.optim.Adam(m.parameters(), lr=1e-3); loss_fn = nn.CrossEntropyLoss(); B = 64
for ep in range(epochs):
    m.train(); perm = torch.randperm(len(Xtr)); t0 = time.perf_counter(); c0 = time.process_time()
    for i in range(0, len(Xtr), B):
        idx = perm[i:i + B]; opt.zero_grad(); loss = loss_fn(m(Xtr[idx]), Ytr[idx]); loss.backward(); opt.step()
    wall = time.perf_counter() - t0; cpu = time.process_time() - c0
    m.eval()
    with torch.no_grad(): acc = (m(Xte).argmax(1) == Yte).float().mean().item()
    print(f"RESULT torch cnn epoch {ep+1} wall_s {wall:.2f} cpu_s {cpu:.2f} test_acc {acc:.4f}", flush=True)
