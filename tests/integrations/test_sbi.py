"""bijective's conditional flows as sbi density estimators: neural posterior estimation on
a Gaussian-linear simulator recovers the analytic posterior's mean and standard
deviations, and a bad name or option fails before any simulation."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("sbi")
from sbi.inference import NPE  # noqa: E402

from bijective.integrations.sbi import density_estimator  # noqa: E402

NOISE = 0.3  # x = theta + NOISE * e: the posterior is N(x / (1 + NOISE^2), NOISE^2 / (1 + NOISE^2))


@pytest.mark.parametrize("model", ["nsf", "maf"])
def test_npe_recovers_the_gaussian_linear_posterior(model, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # sbi writes its sbi-logs/ into the working directory
    torch.manual_seed(0)
    prior = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
    theta = prior.sample((2000,))
    x = theta + NOISE * torch.randn_like(theta)
    builder = density_estimator(model, transforms=3, hidden=(32, 32))
    inference = NPE(prior, density_estimator=builder, show_progress_bars=False)
    estimator = inference.append_simulations(theta, x).train(max_num_epochs=200)
    x_o = torch.tensor([0.8, -0.5])
    with torch.no_grad():
        samples = estimator.sample((20_000,), x_o[None])[:, 0]
    mean = x_o / (1 + NOISE**2)
    std = math.sqrt(NOISE**2 / (1 + NOISE**2))
    assert (samples.mean(0) - mean).abs().max() < 0.05, samples.mean(0)
    assert (samples.std(0) / std - 1).abs().max() < 0.1, samples.std(0)
    with torch.no_grad():  # the density too: log q at the true mean against the analytic
        log_q = estimator.log_prob(mean[None, None], x_o[None])
    exact = -math.log(2 * math.pi * std**2)
    assert abs(float(log_q) - exact) < 0.15


def test_a_bad_name_or_option_fails_at_once() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'nfs'"):
        density_estimator("nfs")
    with pytest.raises(ValueError, match="no option 'bins'"):
        density_estimator("maf", bins=8)
    with pytest.raises(ValueError, match="not a conditional flow of vectors"):
        density_estimator("glow")
