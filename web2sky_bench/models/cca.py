"""CCA, cross-view conceptual alignment: the reference method and its ablations.

Our reading of the paper's figure and abstract (see DESIGN.md):

1. Prototype pool F (M, d): the frozen text encoder over the concept phrases of
   every class (``concept_template`` formats each phrase; see :func:`concept_pool`).
2. Similarities s = x . F^T of the frozen image feature x to every prototype.
3. A per-view weight projection P (M -> M, initialised to the identity) over
   LayerNorm(s); concentrations
   alpha = c * (beta_floor + softplus(P(LN(s)) / T)) + alpha_min.
4. Activation weights w ~ Dir(alpha): ``rsample`` in training (implicit
   reparameterisation), E[w] = alpha / sum(alpha) at inference.
5. A class-conditional Dirichlet prior Dir(beta0 + beta1 * [concept belongs to
   the label's class]) and the closed-form KL(Dir(alpha) || prior) (fp32,
   concentrations >= 1e-2).
6. Textual feature t = normalize(F^T w); visual feature f = adapter(x) (the same
   residual MLP adapter as every other trained model).
7. Fusion by AFF: m = sigmoid(MLP(f + t)), h = m * f + (1 - m) * t; a cosine head
   initialised from the zero-shot text classifier.
8. Cross-view alignment: KL(EMA of the web per-class mean E[w] || E[w] of each
   aerial image of that class).
9. Inference on the aerial branch (aerial projection) only.

Loss = CE(web) + CE(aerial) + kl_weight * KL_prior + align_weight * KL_align.
Ablation switches: ``weights`` (dirichlet_sample | dirichlet_mean | softmax),
``align`` (on/off), ``projection`` (per_view | shared), ``fusion`` (aff | add | concat).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.models.base import TaskData
from web2sky_bench.models.heads import HEAD_DEFAULTS, Adapter, CosineHead, class_text_weights, feature_dim
from web2sky_bench.models.train import TRAIN_DEFAULTS, Batch, TrainableModel

MIN_CONCENTRATION = 1e-2

CCA_DEFAULTS: dict[str, Any] = {
    **TRAIN_DEFAULTS,
    **HEAD_DEFAULTS,
    "concept_template": "{concept}",  # text for each prototype; may use {concept} and {name}
    "weights": "dirichlet_sample",  # "dirichlet_sample" | "dirichlet_mean" | "softmax"
    "projection": "per_view",  # "per_view" (P_web, P_aerial) | "shared"
    "fusion": "aff",  # "aff" | "add" | "concat"
    "align": True,  # cross-view alignment of activation vectors
    "c": 5.0,  # concentration scale
    "beta_floor": 0.1,  # floor inside the concentration (keeps every concept in play)
    "T": 1.0,  # temperature of the projected similarities
    "alpha_min": 0.01,  # additive minimum concentration
    "beta0": 1.0,  # prior concentration on every concept
    "beta1": 5.0,  # extra prior concentration on the label's own concepts
    "kl_weight": 1e-3,  # weight of KL(Dir(alpha) || class prior), per image
    "align_weight": 1.0,  # weight of the cross-view alignment KL
    "momentum": 0.9,  # EMA momentum of the web per-class mean activations
    "aff_reduction": 4,  # AFF MLP bottleneck = d / aff_reduction
    "aff_init_bias": 4.0,  # AFF gate bias at init: m = sigmoid(4) ~ 0.98, so training starts from the
    # visual branch (the zero-shot head, like every other trained model) and learns how much concept
    # feature to mix in; 0.0 (m ~ 0.5 at init) measured worse on synth (benchmarks/README.md, models)
}


def dirichlet_kl(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(Dir(alpha) || Dir(beta)) per row, computed in fp32."""
    alpha, beta = alpha.float(), beta.float()
    a0, b0 = alpha.sum(-1), beta.sum(-1)
    return (
        torch.lgamma(a0)
        - torch.lgamma(alpha).sum(-1)
        - torch.lgamma(b0)
        + torch.lgamma(beta).sum(-1)
        + ((alpha - beta) * (torch.digamma(alpha) - torch.digamma(a0)[..., None])).sum(-1)
    )


def concept_pool(data: TaskData, template: str) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Prototype texts, their (M, d) L2-normalised embeddings and the (K, M) ownership mask.

    When ``template`` names the class (``{name}``) every (class, concept) pair is
    its own prototype (M = sum of pool sizes, the K x N x d pool); otherwise
    identical phrases of different classes share one prototype owned by all of them.
    """
    per_class = "{name}" in template
    texts: list[str] = []
    index: dict[str, int] = {}
    owners: list[set[int]] = []
    for k, (cls, name) in enumerate(zip(data.classes, data.class_names)):
        for phrase in data.concepts.get(cls) or []:
            text = template.format(concept=phrase, name=name)
            key = f"{k}\x00{text}" if per_class else text
            if key not in index:
                index[key] = len(texts)
                texts.append(text)
                owners.append(set())
            owners[index[key]].add(k)
    if not texts:
        raise Web2SkyError(
            "CCA needs concept phrases for the classes, but TaskData.concepts is empty; "
            "provide concepts (models/concepts.py: load_concepts) or pick a non-concept model"
        )
    protos = F.normalize(data.encode_text(texts).float(), dim=1)
    own = torch.zeros(len(data.classes), len(texts))
    for j, ks in enumerate(owners):
        own[sorted(ks), j] = 1.0
    return texts, protos, own


def _identity_linear(m: int) -> nn.Linear:
    layer = nn.Linear(m, m)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(m))
        layer.bias.zero_()
    return layer


class CCAModule(nn.Module):
    """All trainable parts of CCA plus its frozen prototype pool and EMA buffers."""

    def __init__(self, data: TaskData, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        _, protos, own = concept_pool(data, config["concept_template"])
        m, d = protos.shape
        k = len(data.classes)
        if feature_dim(data) != d:
            raise Web2SkyError(f"image features have d={feature_dim(data)} but text features d={d}")
        self.register_buffer("protos", protos)
        self.register_buffer("own", own)
        self.norm = nn.LayerNorm(m)
        self.proj = nn.ModuleDict({"aerial": _identity_linear(m)})
        if config["projection"] == "per_view":
            self.proj["web"] = _identity_linear(m)
        elif config["projection"] != "shared":
            raise Web2SkyError(f"CCA projection must be per_view or shared, not {config['projection']!r}")
        self.adapter = Adapter(d, config["hidden"], config["dropout"])
        fusion = config["fusion"]
        if fusion == "aff":
            r = max(d // int(config["aff_reduction"]), 1)
            self.aff = nn.Sequential(nn.Linear(d, r), nn.ReLU(), nn.Linear(r, d))
            nn.init.constant_(self.aff[-1].bias, float(config["aff_init_bias"]))
        elif fusion == "concat":
            self.merge = nn.Linear(2 * d, d)
            with torch.no_grad():
                self.merge.weight.copy_(torch.cat([torch.eye(d), torch.eye(d)], 1) / 2)
                self.merge.bias.zero_()
        elif fusion != "add":
            raise Web2SkyError(f"CCA fusion must be aff, add or concat, not {fusion!r}")
        if config["weights"] not in ("dirichlet_sample", "dirichlet_mean", "softmax"):
            raise Web2SkyError(
                f"CCA weights must be dirichlet_sample, dirichlet_mean or softmax, not {config['weights']!r}"
            )
        self.head = CosineHead(class_text_weights(data), config["logit_scale"])
        self.register_buffer("ema", torch.zeros(k, m))
        self.register_buffer("ema_seen", torch.zeros(k, dtype=torch.bool))

    def concentrations(self, x: torch.Tensor, view: str) -> torch.Tensor:
        """alpha = c * (beta_floor + softplus(P(LN(s)) / T)) + alpha_min, fp32, >= 1e-2."""
        c = self.config
        s = F.normalize(x, dim=1) @ self.protos.T
        proj = self.proj[view] if view in self.proj else self.proj["aerial"]
        z = proj(self.norm(s)) / c["T"]
        alpha = c["c"] * (c["beta_floor"] + F.softplus(z)) + c["alpha_min"]
        return alpha.float().clamp(min=MIN_CONCENTRATION), z

    def activations(self, x: torch.Tensor, view: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w used for the textual feature, E[w] for alignment, alpha)."""
        alpha, z = self.concentrations(x, view)
        mode = self.config["weights"]
        if mode == "softmax":
            w = F.softmax(z, dim=1)
            return w, w, alpha
        mean = alpha / alpha.sum(1, keepdim=True)
        if mode == "dirichlet_sample" and self.training:
            w = torch.distributions.Dirichlet(alpha).rsample()
        else:
            w = mean
        return w, mean, alpha

    def fuse(self, f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Fuse the visual feature f with the textual feature t."""
        fusion = self.config["fusion"]
        if fusion == "aff":
            m = torch.sigmoid(self.aff(f + t))
            return m * f + (1 - m) * t
        if fusion == "concat":
            return self.merge(torch.cat([f, t], 1))
        return f + t

    def forward(self, x: torch.Tensor, view: str = "aerial"):
        """Logits, the used weights w, E[w] and alpha for features ``x`` of ``view``."""
        w, mean, alpha = self.activations(x, view)
        t = F.normalize(w.to(x.dtype) @ self.protos, dim=1)
        h = self.fuse(self.adapter(x), t)
        return self.head(h), w, mean, alpha


class CCA(TrainableModel):
    """Cross-view conceptual alignment with Dirichlet concept activations (reference)."""

    name = "cca"
    description = "CCA (reference): Dirichlet concept activations + class prior, AFF fusion, cross-view concept alignment"
    default_config: ClassVar[dict[str, Any]] = dict(CCA_DEFAULTS)

    def build(self, data: TaskData) -> nn.Module:
        return CCAModule(data, self.config)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.module(features, "aerial")[0]

    def _prior_kl(self, alpha: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = self.config
        prior = (c["beta0"] + c["beta1"] * self.module.own[y]).clamp(min=MIN_CONCENTRATION)
        return dirichlet_kl(alpha, prior).mean()

    def loss(self, batch: Batch) -> torch.Tensor:
        m: CCAModule = self.module
        c = self.config
        lw, _, mean_w, alpha_w = m(batch.web_x, "web")
        la, _, mean_a, alpha_a = m(batch.aerial_x, "aerial")
        loss = F.cross_entropy(lw, batch.web_y) + F.cross_entropy(la, batch.aerial_y)
        if c["weights"] != "softmax" and c["kl_weight"]:
            loss = loss + c["kl_weight"] * 0.5 * (
                self._prior_kl(alpha_w, batch.web_y) + self._prior_kl(alpha_a, batch.aerial_y)
            )
        if c["align"] and len(batch.web_y):
            loss = loss + c["align_weight"] * self._align(mean_w, batch.web_y, mean_a, batch.aerial_y)
        return loss

    def _align(self, mean_w, yw, mean_a, ya) -> torch.Tensor:
        """KL(EMA web class-mean activation || aerial activation), over aerial images of seen classes."""
        m: CCAModule = self.module
        k = m.ema.shape[0]
        onehot = F.one_hot(yw, k).float()
        counts = onehot.sum(0)
        present = counts > 0
        mom = float(self.config["momentum"])
        with torch.no_grad():
            means = (onehot.T @ mean_w.float()) / counts.clamp(min=1)[:, None]
            fresh, old = present & ~m.ema_seen, present & m.ema_seen
            m.ema[fresh] = means[fresh]
            m.ema[old] = mom * m.ema[old] + (1 - mom) * means[old]
            m.ema_seen |= present
        use = m.ema_seen[ya]
        if not use.any():
            return mean_a.sum() * 0
        p = m.ema[ya[use]].clamp(min=1e-8)
        q = mean_a[use].float().clamp(min=1e-8)
        return (p * (p.log() - q.log())).sum(1).mean()


class CCASoftmax(CCA):
    """Ablation: softmax concept weights instead of the Dirichlet (no prior KL)."""

    name = "cca-softmax"
    description = "CCA ablation: softmax concept weights instead of Dirichlet sampling"
    default_config: ClassVar[dict[str, Any]] = {**CCA_DEFAULTS, "weights": "softmax"}


class CCADirichletMean(CCA):
    """Ablation: deterministic Dirichlet mean E[w] in training too."""

    name = "cca-dirmean"
    description = "CCA ablation: Dirichlet mean weights in training (no sampling)"
    default_config: ClassVar[dict[str, Any]] = {**CCA_DEFAULTS, "weights": "dirichlet_mean"}


class CCANoAlign(CCA):
    """Ablation: no cross-view alignment of activation vectors."""

    name = "cca-noalign"
    description = "CCA ablation: without cross-view concept alignment"
    default_config: ClassVar[dict[str, Any]] = {**CCA_DEFAULTS, "align": False}


class CCASharedProjection(CCA):
    """Ablation: one weight projection shared by both views."""

    name = "cca-shared"
    description = "CCA ablation: one weight projection shared by web and aerial views"
    default_config: ClassVar[dict[str, Any]] = {**CCA_DEFAULTS, "projection": "shared"}


class CCAConcat(CCA):
    """Ablation: fuse by concatenation + linear layer instead of AFF."""

    name = "cca-concat"
    description = "CCA ablation: concat fusion instead of AFF"
    default_config: ClassVar[dict[str, Any]] = {**CCA_DEFAULTS, "fusion": "concat"}


class CCAAdd(CCA):
    """Ablation: fuse by addition instead of AFF."""

    name = "cca-add"
    description = "CCA ablation: additive fusion instead of AFF"
    default_config: ClassVar[dict[str, Any]] = {**CCA_DEFAULTS, "fusion": "add"}
