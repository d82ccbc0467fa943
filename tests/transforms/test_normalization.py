"""ActNorm's data-dependent initialisation and BatchNorm's train/eval behaviour."""

from __future__ import annotations

import torch

import bijective as bj

T = bj.transforms


def test_actnorm_initialises_on_the_first_batch_to_zero_mean_unit_variance() -> None:
    x = 3 + 2 * torch.randn(500, 4, dtype=torch.float64)
    t = T.ActNorm(4).double()
    z, _ = t(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(
        z.std(0, correction=0), torch.ones(4, dtype=torch.float64), atol=1e-5, rtol=0
    )
    assert bool(t.initialized)


def test_actnorm_images_initialise_per_channel() -> None:
    x = torch.randn(20, 3, 4, 4) * torch.tensor([1.0, 5.0, 0.1])[:, None, None]
    t = T.ActNorm((3, 4, 4))
    z, ladj = t(x)
    assert t.log_scale.shape == (3, 1, 1)
    torch.testing.assert_close(z.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(ladj, (16 * t.log_scale.sum()).expand(20))


def test_actnorm_reloaded_is_not_reinitialised() -> None:
    t = T.ActNorm(3)
    t(5 + torch.randn(100, 3))
    assert "initialized" in t.state_dict()
    fresh = T.ActNorm(3)
    fresh.load_state_dict(t.state_dict())
    other = torch.randn(50, 3) * 10
    torch.testing.assert_close(fresh(other)[0], t(other)[0])
    torch.testing.assert_close(fresh.bias, t.bias)


def test_actnorm_inverse_before_any_forward_is_the_identity() -> None:
    t = T.ActNorm(3)
    z = torch.randn(5, 3)
    x, ladj = t.inverse(z)
    torch.testing.assert_close(x, z)
    assert not bool(t.initialized)


def test_batchnorm_train_mode_normalises_with_batch_statistics() -> None:
    t = T.BatchNorm(3).double()
    x = 4 + 3 * torch.randn(400, 3, dtype=torch.float64)
    z, ladj = t(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-10, rtol=0)
    expected = -0.5 * (x.var(0, correction=0) + t.eps).log().sum()
    torch.testing.assert_close(ladj, expected.expand(400))


def test_batchnorm_running_statistics_follow_momentum() -> None:
    t = T.BatchNorm(2, momentum=0.25).double()
    x = 2 + torch.randn(100, 2, dtype=torch.float64)
    t(x)
    torch.testing.assert_close(t.running_mean, 0.25 * x.mean(0))
    torch.testing.assert_close(t.running_var, 0.75 + 0.25 * x.var(0, correction=0))


def test_batchnorm_eval_reproduces_train_output_when_statistics_match() -> None:
    """With momentum 1 the running statistics are the last batch's: eval mode then computes
    exactly what train mode computed on that batch."""
    t = T.BatchNorm((2, 3, 3), momentum=1.0).double()
    x = 1 + 2 * torch.randn(30, 2, 3, 3, dtype=torch.float64)
    z_train, ladj_train = t(x)
    t.eval()
    z_eval, ladj_eval = t(x)
    torch.testing.assert_close(z_eval, z_train)
    torch.testing.assert_close(ladj_eval, ladj_train)


def test_batchnorm_inverse_uses_running_statistics_in_train_mode() -> None:
    t = T.BatchNorm(2).double()
    x = 3 + torch.randn(50, 2, dtype=torch.float64)
    z, _ = t(x)  # batch statistics, running ones only partly updated
    t.eval()
    expected = t.inverse(z)[0]
    t.train()
    torch.testing.assert_close(t.inverse(z)[0], expected)
