"""Models: registry, shared loop, every registered model on a toy feature task, CCA maths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.models.base import Model
from web2sky_bench.models.cca import CCA, CCAModule, dirichlet_kl
from web2sky_bench.models.registry import MODELS, get_model, list_models
from web2sky_bench.models.toy import toy_task

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task():
    return toy_task(aerial_noise=0.8, web_noise=0.5, seed=0)


def _accuracy(model: Model, test) -> float:
    proba = model.predict(test)
    assert proba.shape == (len(test), 8)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    return float((proba.argmax(1) == test.labels.numpy()).mean())


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_beats_chance(name, task):
    data, test = task
    model = get_model(name)(config={"epochs": 10, "min_steps": 5} if "epochs" in get_model(name).default_config else None, seed=1)
    assert model.name == name
    model.fit(data)
    assert _accuracy(model, test) > 2 * (1 / 8)


@pytest.mark.parametrize("name", ["joint", "cva-dann", "cca", "tip-adapter-f"])
def test_same_seed_same_result(name, task):
    data, test = task
    runs = []
    for seed in (3, 3, 4):
        model = get_model(name)(config={"epochs": 4}, seed=seed)
        model.fit(data)
        runs.append(model.predict(test))
    np.testing.assert_array_equal(runs[0], runs[1])
    if name != "tip-adapter-f":  # its keys start from the features: nothing random to change
        assert not np.array_equal(runs[0], runs[2])


def test_selection_uses_val_and_keeps_best_epoch(task):
    data, _ = task
    model = get_model("aerial-only")(config={"epochs": 6, "patience": 100}, seed=0)
    model.fit(data)
    hist = model.train_result.history
    assert [h["epoch"] for h in hist] == list(range(7))  # epoch 0 = before training
    best = max(h["val_accuracy"] for h in hist)
    assert model.train_result.best_val_accuracy == best
    val = data.aerial_val
    acc = float((model.predict(val).argmax(1) == val.labels.numpy()).mean())
    assert acc == pytest.approx(best)


def test_early_stopping(task):
    data, _ = task
    model = get_model("joint")(config={"epochs": 50, "patience": 1, "lr": 0.0}, seed=0)
    model.fit(data)  # lr 0: val accuracy never improves on epoch 0
    assert len(model.train_result.history) == 2
    assert model.train_result.best_epoch == 0


def test_registry_errors_and_listing():
    with pytest.raises(Web2SkyError, match="cva-mmd"):
        get_model("cva-mdm")
    names = [n for n, _ in list_models()]
    assert names == list(MODELS)
    with pytest.raises(Web2SkyError, match="no option"):
        get_model("cca")(config={"nope": 1})
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0
    for name, desc in list_models():
        assert name in result.output and desc in result.output


def test_dirichlet_kl_matches_torch():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(5, 30, generator=g) * 5 + 0.01
    b = torch.rand(5, 30, generator=g) * 3 + 0.01
    expected = torch.distributions.kl_divergence(torch.distributions.Dirichlet(a), torch.distributions.Dirichlet(b))
    torch.testing.assert_close(dirichlet_kl(a, b), expected, rtol=1e-5, atol=1e-5)


def test_gradients_flow_through_dirichlet_rsample(task):
    data, _ = task
    torch.manual_seed(0)
    module = CCAModule(data, dict(CCA.default_config))
    module.train()
    logits, w, _, alpha = module(data.aerial_train.features, "aerial")
    assert torch.allclose(w.sum(1), torch.ones(len(w)), atol=1e-5)
    assert alpha.dtype == torch.float32 and float(alpha.detach().min()) >= 1e-2
    # a loss that depends on the projection only through the sampled weights
    (w * torch.arange(w.shape[1]).float()).sum().backward()
    grad = module.proj["aerial"].weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0
    # inference uses E[w]: deterministic
    module.eval()
    a1 = module(data.aerial_val.features, "aerial")[0]
    a2 = module(data.aerial_val.features, "aerial")[0]
    assert torch.equal(a1, a2)


def test_cca_views_and_ablation_switches(task):
    data, _ = task
    per_view = CCAModule(data, dict(CCA.default_config))
    assert set(per_view.proj) == {"web", "aerial"}
    shared = CCAModule(data, {**CCA.default_config, "projection": "shared"})
    assert set(shared.proj) == {"aerial"}
    with pytest.raises(Web2SkyError, match="fusion"):
        CCAModule(data, {**CCA.default_config, "fusion": "mul"})
    empty = type(data)(**{**data.__dict__, "concepts": {}})
    with pytest.raises(Web2SkyError, match="concept"):
        CCA(seed=0).fit(empty)


def test_cca_alignment_pulls_aerial_to_web_activations(task):
    data, _ = task
    model = CCA(config={"epochs": 3, "align_weight": 50.0, "weights": "dirichlet_mean"}, seed=0)
    model.fit(data)
    m = model.module
    with torch.no_grad():
        _, _, mean_a, _ = m(data.aerial_val.features, "aerial")
        ema = m.ema[data.aerial_val.labels]
        kl_aligned = (ema * (ema.log() - mean_a.log())).sum(1).mean()
    base = CCA(config={"epochs": 3, "align": False, "weights": "dirichlet_mean"}, seed=0)
    base.fit(data)
    with torch.no_grad():
        _, _, mean_b, _ = base.module(data.aerial_val.features, "aerial")
        kl_free = (ema * (ema.log() - mean_b.log())).sum(1).mean()
    assert kl_aligned < kl_free
