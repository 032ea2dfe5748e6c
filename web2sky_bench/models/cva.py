"""CVA, cross-view visual alignment: the same adapter + head as ``joint``, plus one alignment loss.

Every model minimises CE(web) + CE(aerial) + lambda * L_align(z_web, z_aerial),
where z are the (L2-normalised) adapter outputs and web/aerial batches are
drawn independently (views are not paired per instance). Losses follow
DomainBed / TLlib forms (see REFERENCES.md):

* ``cva-mmd``: multi-kernel (sum of RBF) maximum mean discrepancy;
* ``cva-coral``: mean((mu_g - mu_a)^2) + mean((C_g - C_a)^2);
* ``cva-dann``: a domain classifier behind a gradient-reversal layer;
* ``cva-supcon``: supervised contrastive loss whose positives are same-class
  images of the *other* view (tau 0.1), or the CCSA pair loss;
* ``cva-proto``: (1/K) sum_k ||sg(mu_k^web) - mu_k^aerial||^2 with EMA web class means;
* ``cva-distill``: tau^2 KL(softmax(zbar_y^web / tau) || softmax(z^aerial / tau))
  with EMA class-mean web logits as the teacher.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from web2sky_bench.models.base import TaskData
from web2sky_bench.models.baselines import Joint
from web2sky_bench.models.heads import EncoderHead
from web2sky_bench.models.train import Batch


class CVAModel(Joint):
    """Base of the CVA family: joint cross-entropy plus ``lambda`` times :meth:`align`."""

    default_config: ClassVar[dict[str, Any]] = {**Joint.default_config, "lambda": 1.0}

    def align(self, zw: torch.Tensor, yw: torch.Tensor, za: torch.Tensor, ya: torch.Tensor,
              batch: Batch) -> torch.Tensor:
        """The alignment loss between web and aerial encodings."""
        raise NotImplementedError

    def loss(self, batch: Batch) -> torch.Tensor:
        m: EncoderHead = self.module
        zw, za = m.encoder(batch.web_x), m.encoder(batch.aerial_x)
        ce = F.cross_entropy(m.head(zw), batch.web_y) + F.cross_entropy(m.head(za), batch.aerial_y)
        return ce + self.config["lambda"] * self.align(zw, batch.web_y, za, batch.aerial_y, batch)


def mmd(x: torch.Tensor, y: torch.Tensor, gammas: tuple[float, ...]) -> torch.Tensor:
    """Multi-kernel MMD^2 with k(a, b) = sum_g exp(-g ||a - b||^2) (DomainBed)."""

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).pow(2)
        return sum(torch.exp(-g * d2) for g in gammas)

    return kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean()


def coral(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """DomainBed CORAL: squared mean difference plus squared covariance difference."""
    mx, my = x.mean(0, keepdim=True), y.mean(0, keepdim=True)
    cx = (x - mx).T @ (x - mx) / max(len(x) - 1, 1)
    cy = (y - my).T @ (y - my) / max(len(y) - 1, 1)
    return (mx - my).pow(2).mean() + (cx - cy).pow(2).mean()


class MMD(CVAModel):
    """Multi-kernel MMD between web and aerial encodings."""

    name = "cva-mmd"
    description = "CVA: joint head + multi-kernel MMD between web and aerial features"
    default_config: ClassVar[dict[str, Any]] = {
        **CVAModel.default_config,
        "gammas": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0],  # RBF kernel bandwidths
    }

    def align(self, zw, yw, za, ya, batch):
        return mmd(zw, za, tuple(self.config["gammas"]))


class CORAL(CVAModel):
    """CORAL: match the first and second moments of web and aerial encodings."""

    name = "cva-coral"
    description = "CVA: joint head + CORAL (mean and covariance matching)"

    def align(self, zw, yw, za, ya, batch):
        return coral(zw, za)


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float) -> torch.Tensor:
    """Identity forward, gradient multiplied by ``-coeff`` backward."""
    return _GradReverse.apply(x, coeff)


class DANN(CVAModel):
    """DANN: a web-vs-aerial classifier trained through a gradient-reversal layer."""

    name = "cva-dann"
    description = "CVA: joint head + domain-adversarial training (gradient reversal)"
    default_config: ClassVar[dict[str, Any]] = {
        **CVAModel.default_config,
        "disc_hidden": 256,  # domain classifier width
        "schedule": True,  # Ganin's ramp 2/(1+exp(-10p))-1 of the reversal coefficient
    }

    def build(self, data: TaskData) -> nn.Module:
        module = super().build(data)
        d, h = module.head.weight.shape[1], self.config["disc_hidden"]
        module.disc = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, 1))
        return module

    def align(self, zw, yw, za, ya, batch):
        coeff = 2.0 / (1.0 + math.exp(-10 * batch.progress)) - 1.0 if self.config["schedule"] else 1.0
        z = grad_reverse(torch.cat([zw, za]), coeff)
        target = torch.cat([zw.new_ones(len(zw)), za.new_zeros(len(za))])
        return F.binary_cross_entropy_with_logits(self.module.disc(z).squeeze(1), target)


def cross_view_supcon(zw, yw, za, ya, tau: float) -> torch.Tensor:
    """SupCon with opposite-view positives: each anchor contrasts the other view's batch."""

    def one_way(anchor, ya_, other, yo):
        logits = anchor @ other.T / tau
        pos = (ya_[:, None] == yo[None, :]).float()
        has = pos.sum(1) > 0
        if not has.any():
            return logits.sum() * 0
        logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        return -((logp * pos).sum(1)[has] / pos.sum(1)[has]).mean()

    return 0.5 * (one_way(zw, yw, za, ya) + one_way(za, ya, zw, yw))


def ccsa(zw, yw, za, ya, margin: float) -> torch.Tensor:
    """CCSA: pull same-class cross-view pairs together, push others beyond ``margin``."""
    d = torch.cdist(zw, za)
    same = (yw[:, None] == ya[None, :]).float()
    return (0.5 * d.pow(2) * same + 0.5 * F.relu(margin - d).pow(2) * (1 - same)).mean()


class SupCon(CVAModel):
    """Supervised cross-view contrastive alignment (SupCon form by default, CCSA as option)."""

    name = "cva-supcon"
    description = "CVA: joint head + supervised cross-view contrastive loss (opposite-view positives, tau 0.1)"
    default_config: ClassVar[dict[str, Any]] = {
        **CVAModel.default_config,
        "form": "supcon",  # "supcon" | "ccsa"
        "tau": 0.1,  # SupCon temperature
        "margin": 1.0,  # CCSA margin
    }

    def align(self, zw, yw, za, ya, batch):
        if self.config["form"] == "ccsa":
            return ccsa(zw, yw, za, ya, self.config["margin"])
        return cross_view_supcon(zw, yw, za, ya, self.config["tau"])


def _class_means(z: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, d) per-class means of ``z`` over the batch and the (K,) mask of present classes."""
    onehot = F.one_hot(y, k).float()
    counts = onehot.sum(0)
    means = onehot.T @ z / counts.clamp(min=1)[:, None]
    return means, counts > 0


class _EMAMixin:
    """An EMA table of per-class web statistics kept as module buffers."""

    def _ema_update(self, name: str, values: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        table, seen = getattr(self.module, name), getattr(self.module, name + "_seen")
        mom = self.config["momentum"]
        with torch.no_grad():
            fresh = present & ~seen
            old = present & seen
            table[fresh] = values[fresh].detach()
            table[old] = mom * table[old] + (1 - mom) * values[old].detach()
            seen |= present
        return table, seen


class PrototypeAlign(_EMAMixin, CVAModel):
    """Class-prototype alignment: aerial class means pulled to EMA web class means."""

    name = "cva-proto"
    description = "CVA: joint head + class-prototype alignment to EMA web class means"
    default_config: ClassVar[dict[str, Any]] = {**CVAModel.default_config, "momentum": 0.9}

    def build(self, data: TaskData) -> nn.Module:
        module = super().build(data)
        k, d = module.head.weight.shape
        module.register_buffer("proto", torch.zeros(k, d))
        module.register_buffer("proto_seen", torch.zeros(k, dtype=torch.bool))
        return module

    def align(self, zw, yw, za, ya, batch):
        k = self.module.proto.shape[0]
        web_means, web_present = _class_means(zw, yw, k)
        proto, seen = self._ema_update("proto", web_means, web_present)
        aer_means, aer_present = _class_means(za, ya, k)
        use = aer_present & seen
        if not use.any():
            return za.sum() * 0
        return (proto[use] - aer_means[use]).pow(2).sum(1).mean()


class Distill(_EMAMixin, CVAModel):
    """Web-to-aerial distillation with EMA class-mean web logits as the teacher."""

    name = "cva-distill"
    description = "CVA: joint head + web-to-aerial distillation from class-mean web logits (tau^2 KL)"
    default_config: ClassVar[dict[str, Any]] = {
        **CVAModel.default_config,
        "tau": 2.0,  # distillation temperature
        "momentum": 0.9,
    }

    def build(self, data: TaskData) -> nn.Module:
        module = super().build(data)
        k = module.head.weight.shape[0]
        module.register_buffer("teacher", torch.zeros(k, k))
        module.register_buffer("teacher_seen", torch.zeros(k, dtype=torch.bool))
        return module

    def align(self, zw, yw, za, ya, batch):
        k, tau = self.module.teacher.shape[0], self.config["tau"]
        web_logits, present = _class_means(self.module.head(zw), yw, k)
        teacher, seen = self._ema_update("teacher", web_logits, present)
        use = seen[ya]
        if not use.any():
            return za.sum() * 0
        target = F.softmax(teacher[ya[use]] / tau, dim=1)
        student = F.log_softmax(self.module.head(za[use]) / tau, dim=1)
        return tau**2 * F.kl_div(student, target, reduction="batchmean")
