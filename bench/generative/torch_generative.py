"""PyTorch twins of Myelin's generative presets (bench/generative/main.swift is the Myelin side):
same architectures, initialisation rules, optimizers, batch size, data and epochs.

Usage: torch_generative.py conv-autoencoder|vae|dcgan EPOCHS SAMPLES [SAMPLES_IDX]
  Trains on the first SAMPLES Fashion-MNIST training images with 1 thread, printing per epoch
  the wall and CPU seconds (time.process_time), then the test measure: reconstruction MSE
  (conv-autoencoder), ELBO in nats per image (vae, one z per image, Bernoulli pixels), or for
  dcgan writes 10 000 samples as a uint8 IDX file that `GenerativeBench fid` measures with
  Myelin's CNN, exactly as it measures Myelin's samples.
"""
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, "/work/shared/anchors")
from fmnist import load  # noqa: E402

kind, epochs, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out_path = sys.argv[4] if len(sys.argv) > 4 else "/tmp/torch_dcgan_samples.idx"
torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = load()
Xtr = torch.from_numpy(xtr[:samples]).reshape(-1, 784)
Xte = torch.from_numpy(xte).reshape(-1, 784)
B = 64


def conv_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)


if kind == "conv-autoencoder":
    w, code = 16, 32
    enc = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, w, 3, 2, 1), nn.ReLU(), nn.Conv2d(w, 2 * w, 3, 2, 1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(2 * w * 49, code))
    dec = nn.Sequential(nn.Linear(code, 2 * w * 49), nn.ReLU(), nn.Unflatten(1, (2 * w, 7, 7)),
                        nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Sigmoid(), nn.Flatten())
    model = nn.Sequential(enc, dec)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x):
        loss = F.mse_loss(model(x), x)
        opt.zero_grad(); loss.backward(); opt.step()
        return {"mse": loss.item()}

    def measure():
        model.eval()
        with torch.no_grad():
            return "test_mse %.5f" % F.mse_loss(model(Xte), Xte).item()
elif kind == "vae":
    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(784, 400), nn.ReLU())
            self.mu, self.logvar = nn.Linear(400, 20), nn.Linear(400, 20)
            self.dec = nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784))

        def loss(self, x):
            h = self.enc(x)
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            rec = F.binary_cross_entropy_with_logits(self.dec(z), x, reduction="sum") / x.shape[0]
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.shape[0]
            return rec + kl, rec, kl

    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x):
        loss, rec, kl = model.loss(x)
        opt.zero_grad(); loss.backward(); opt.step()
        return {"loss": loss.item(), "reconstruction": rec.item(), "kl": kl.item()}

    def measure():
        model.eval()
        torch.manual_seed(1)
        with torch.no_grad():
            total = sum(model.loss(Xte[i:i + 500])[0].item() * len(Xte[i:i + 500]) for i in range(0, len(Xte), 500))
        return "test_elbo %.3f" % (-total / len(Xte))
elif kind == "dcgan":
    L, w = 64, 32
    G = nn.Sequential(nn.Linear(L, 2 * w * 49), nn.Unflatten(1, (2 * w, 7, 7)), nn.BatchNorm2d(2 * w), nn.ReLU(),
                      nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
                      nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Sigmoid(), nn.Flatten())
    D = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * w * 49, 1))
    G.apply(conv_init); D.apply(conv_init)
    og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()

    def step(x):
        n = x.shape[0]
        ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
        fake = G(torch.randn(n, L))
        real_logits, fake_logits = D(x), D(fake.detach())
        d_loss = bce(real_logits, ones) + bce(fake_logits, zeros)
        od.zero_grad(); d_loss.backward(); od.step()
        D.requires_grad_(False)   # as Myelin's GAN.step: no discriminator weight gradients in the generator's update
        g_loss = bce(D(fake), ones)
        og.zero_grad(); g_loss.backward(); og.step()
        D.requires_grad_(True)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}

    def measure():
        G.eval()
        torch.manual_seed(1)
        with torch.no_grad():
            images = torch.cat([G(torch.randn(500, L)) for _ in range(20)])
        data = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy().tobytes()
        with open(out_path, "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", 10000, 28, 28) + data)
        return "wrote 10000 samples to " + out_path
else:
    sys.exit("unknown model " + kind)

walls, cpus = [], []
for ep in range(epochs):
    perm = torch.randperm(len(Xtr))
    t0, c0 = time.perf_counter(), time.process_time()
    sums, seen = {}, 0
    for i in range(0, len(Xtr) - B + 1, B):   # full batches only, as Myelin's StepTrainer (dropLast)
        x = Xtr[perm[i:i + B]]
        for k, v in step(x).items():
            sums[k] = sums.get(k, 0.0) + v * len(x)
        seen += len(x)
    walls.append(time.perf_counter() - t0); cpus.append(time.process_time() - c0)
    metrics = " ".join("%s %.4f" % (k, v / seen) for k, v in sums.items())
    print("epoch %d wall_s %.2f cpu_s %.2f %s" % (ep + 1, walls[-1], cpus[-1], metrics), flush=True)
print("RESULT torch %s samples %d epochs %d median_wall_s %.2f median_cpu_s %.2f %s" % (
    kind, len(Xtr), epochs, sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2], measure()))
