"""VAEs and their amortised flow posteriors: exact log q, the transforms' maths, the bounds."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj
from bijective.models import POSTERIORS, VAE, Posterior

STEPS = {"diagonal": 0, "planar": 3, "radial": 3, "sylvester": 2, "iaf": 2}
H, L = 6, 4


def posterior(name: str, seed: int = 0) -> Posterior:
    torch.manual_seed(seed)
    post = Posterior(H, L, name, STEPS[name])
    return randomise(post.double(), 0.3, torch.Generator().manual_seed(seed))


def flow(post: Posterior, z: torch.Tensor, h: torch.Tensor):
    if post.flow is None:
        return z, torch.zeros(z.shape[:-1], dtype=z.dtype)
    return post.flow._forward(z, h)


@pytest.mark.parametrize("name", sorted(POSTERIORS))
def test_log_q_is_the_base_density_minus_the_autograd_log_det(name: str) -> None:
    """For each row, z_K = flow(z0; h) has log|det dz_K/dz0| equal to the flow's ladj, so
    log q(z_K | x) = log N(z0; mu, sigma) - ladj is exact."""
    post = posterior(name)
    h = torch.randn(3, H, dtype=torch.float64)
    z0 = torch.randn(2, 3, L, dtype=torch.float64)
    _, ladj = flow(post, z0, h)
    for s in range(2):
        for n in range(3):
            jac = torch.autograd.functional.jacobian(
                lambda z, n=n: flow(post, z[None, None], h[n : n + 1])[0][0, 0], z0[s, n]
            )
            torch.testing.assert_close(ladj[s, n], torch.linalg.slogdet(jac)[1])
    if name != "diagonal":  # random parameters: the maps are not the identity
        assert ladj.abs().min() > 1e-4


def test_the_diagonal_posterior_is_the_gaussian_of_its_heads() -> None:
    post = posterior("diagonal")
    h = torch.randn(5, H, dtype=torch.float64)
    torch.manual_seed(1)
    z, log_q = post(h, 3)
    normal = torch.distributions.Normal(post.loc(h), post.log_scale(h).exp())
    torch.testing.assert_close(log_q, normal.log_prob(z).sum(-1))


@pytest.mark.parametrize("name", sorted(set(POSTERIORS) - {"diagonal"}))
def test_a_flow_posterior_is_a_library_transform_amortised_by_its_context(name: str) -> None:
    """No second implementation: the maps are bj.transforms conditioned on h (their inverse
    and log-det are tested in tests/transforms), and each row gets its own map."""
    post = posterior(name)
    assert isinstance(post.flow, bj.transforms.Transform) and post.flow.context_features == H
    z = torch.randn(1, L, dtype=torch.float64).expand(2, L)
    h = torch.randn(2, H, dtype=torch.float64)
    out, ladj = post.flow(z, h)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(ladj[0], ladj[1])
    back, _ = post.flow.inverse(out, h)
    torch.testing.assert_close(back, z)


@pytest.mark.parametrize("name", sorted(POSTERIORS))
def test_vae_bounds_gradients_and_samples(name: str) -> None:
    torch.manual_seed(0)
    vae = VAE(12, latent=3, hidden=(16, 16), posterior=name, steps=STEPS[name]).double()
    x = torch.bernoulli(torch.full((4, 12), 0.3, dtype=torch.float64))
    # Same draws: the importance-weighted bound is >= the ELBO (Jensen), row by row.
    log_joint, log_q = vae.log_weights(x, 50)
    assert (bj.objectives.iwae(log_joint, log_q) >= bj.objectives.elbo(log_joint, log_q)).all()
    # Independent draws: the 1,000-sample estimate of log p(x) is above a 1,000-draw ELBO.
    with torch.no_grad():
        assert (vae.log_prob(x, samples=1000) > vae.elbo(x, samples=1000)).all()
    randomise(vae, 0.05)  # off the zero-initialised last layers (IAF's MADE)
    loss = -vae.elbo(x).mean()
    loss.backward()
    for p_name, p in vae.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, p_name
    assert vae.sample((7,)).shape == (7, 12)
    assert set(vae.sample(5).unique().tolist()) <= {0.0, 1.0}


def test_importance_sampling_recovers_a_known_log_p() -> None:
    """A one-pixel VAE whose decoder ignores z: p(x) = sigmoid(c)^x (1 - sigmoid(c))^(1-x)
    exactly, whatever q is, and the importance-sampled estimate converges to it."""
    torch.manual_seed(0)
    vae = VAE(1, latent=2, hidden=(4, 4)).double()
    with torch.no_grad():
        last = vae.decoder.net[-1]
        for layer in vae.decoder.net:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
        last.bias.fill_(0.7)
    x = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    want = torch.stack([torch.sigmoid(torch.tensor(0.7)), 1 - torch.sigmoid(torch.tensor(0.7))])
    # log p(x, z) - log q(z | x) = log p(x) + log p(z) - log q(z): its log-mean-exp
    # over many draws tends to log p(x) (the ratio p(z)/q(z) has mean 1).
    got = vae.log_prob(x, samples=20_000).exp()
    torch.testing.assert_close(got, want.double(), atol=0.02, rtol=0)


def test_bad_vae_options() -> None:
    with pytest.raises(ValueError, match="unknown posterior 'householder'"):
        VAE(4, posterior="householder", steps=2)
    with pytest.raises(ValueError, match="the diagonal posterior has 0 steps"):
        VAE(4, posterior="planar", steps=0)
