"""Generate PyTorch reference values for Myelin's VAE loss, GAN losses and Fréchet distance.

Run from the repo root:

    /tmp/anchors/bin/python Tests/MyelinTests/Fixtures/make_generative_goldens.py

(/tmp/anchors: the venv of `sh ../shared/anchors/setup.sh`). Writes generative_goldens.json
next to this script. Inputs are closed-form `det` tensors as in make_conv_goldens.py
(element i = a * sin(f * i + p)); float64; 9 significant digits.

Cases:
- vae_loss: x in [0, 1] [3, 6], decoder logits [3, 6], mu and logvar [3, 2]:
  reconstruction = BCE-with-logits(logits, x, sum) / 3, kl = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) / 3,
  total = reconstruction + kl; gradients of total w.r.t. logits, mu, logvar.
- reparameterize: z = mu + exp(0.5 logvar) * eps, and the gradients of sum(z * R).
- gan_losses: D logits for real and fake [4, 1]: d_loss = bce(real, 1) + bce(fake, 0), g_loss = bce(fake, 1)
  (mean reduction), with gradients w.r.t. both logits.
- frechet: two small feature sets [6, 3] -> FID computed with scipy-free torch linear algebra
  (eigendecomposition of the symmetric sqrt(S1) S2 sqrt(S1)).
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
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.reshape(-1).tolist()]}


cases = {}

# VAE loss
x = (det([3, 6], 0.5, 0.9, 0.1) + 0.5).clamp(0, 1)
logits = det([3, 6], 2.0, 0.37, 0.5).requires_grad_(True)
mu = det([3, 2], 0.8, 1.3, 0.2).requires_grad_(True)
logvar = det([3, 2], 0.6, 0.55, 0.9).requires_grad_(True)
rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 3
kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / 3
total = rec + kl
total.backward()
cases["vae_loss"] = {"x": T(x), "logits": T(logits), "mu": T(mu), "logvar": T(logvar),
                     "reconstruction": rec.item(), "kl": kl.item(), "total": total.item(),
                     "grad_logits": T(logits.grad), "grad_mu": T(mu.grad), "grad_logvar": T(logvar.grad)}

# Reparameterisation
mu = det([3, 2], 0.8, 1.3, 0.2).requires_grad_(True)
logvar = det([3, 2], 0.6, 0.55, 0.9).requires_grad_(True)
eps = det([3, 2], 1.0, 2.1, 0.4)
z = mu + torch.exp(0.5 * logvar) * eps
r = det([3, 2], 1.0, 0.41, 0.2)
(z * r).sum().backward()
cases["reparameterize"] = {"mu": T(mu), "logvar": T(logvar), "eps": T(eps), "z": T(z), "grad_output": T(r),
                           "grad_mu": T(mu.grad), "grad_logvar": T(logvar.grad)}

# GAN losses
real = det([4, 1], 3.0, 0.8, 0.1).requires_grad_(True)
fake = det([4, 1], 2.5, 1.7, 0.6).requires_grad_(True)
d = F.binary_cross_entropy_with_logits(real, torch.ones(4, 1)) + F.binary_cross_entropy_with_logits(fake, torch.zeros(4, 1))
d.backward()
cases["gan_d_loss"] = {"real": T(real), "fake": T(fake), "loss": d.item(), "grad_real": T(real.grad), "grad_fake": T(fake.grad)}
fake2 = fake.detach().clone().requires_grad_(True)
g = F.binary_cross_entropy_with_logits(fake2, torch.ones(4, 1))
g.backward()
cases["gan_g_loss"] = {"fake": T(fake2), "loss": g.item(), "grad_fake": T(fake2.grad)}


# Fréchet distance
def sqrtm_sym(m):
    w, v = torch.linalg.eigh(m)
    return v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T


a = det([6, 3], 1.0, 0.9, 0.3)
b = det([6, 3], 1.3, 0.45, 1.1) + 0.4
ma, mb = a.mean(0), b.mean(0)
sa, sb = torch.cov(a.T), torch.cov(b.T)
ra = sqrtm_sym(sa)
m = ra @ sb @ ra
fid = ((ma - mb) ** 2).sum() + torch.trace(sa + sb) - 2 * torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
cases["frechet"] = {"a": T(a), "b": T(b), "distance": fid.item(), "cov_a": T(sa), "eigenvalues_cov_a": T(torch.linalg.eigvalsh(sa))}

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "generative_goldens.json"), "w") as f:
    json.dump(cases, f, indent=0)
print("wrote generative_goldens.json")
