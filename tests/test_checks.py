"""bj.check: it passes good transforms and names the failure of broken ones."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj

T = bj.transforms


class WrongLogDet(T.Affine):
    def _forward(self, x, context):
        z, ladj = super()._forward(x, context)
        return z, 2 * ladj


class WrongInverse(T.Affine):
    def _inverse(self, z, context):
        x, ladj = super()._inverse(z, context)
        return x + 1e-3, ladj


def test_check_reports_small_errors_for_a_correct_transform() -> None:
    report = bj.check(randomise(T.Sylvester(4), replace=True), torch.randn(6, 4))
    assert isinstance(report, bj.CheckReport)
    assert (
        report.inverse_error < 1e-10 and report.logdet_error < 1e-10 and report.cancel_error < 1e-10
    )
    assert "inverse error" in str(report)


def test_check_names_a_wrong_log_det() -> None:
    with pytest.raises(
        bj.CheckError, match=r"WrongLogDet failed its checks: ladj - log\|det J\| \(autograd\) is"
    ):
        bj.check(randomise(WrongLogDet(3), replace=True), torch.randn(5, 3))


def test_check_names_a_wrong_inverse() -> None:
    with pytest.raises(bj.CheckError, match=r"inverse\(forward\(x\)\) - x is 0.001"):
        bj.check(randomise(WrongInverse(3), replace=True), torch.randn(5, 3))


def test_check_leaves_the_transform_untouched() -> None:
    t = T.ActNorm(3)
    bj.check(t, torch.randn(8, 3))
    assert not bool(t.initialized) and t.bias.dtype == torch.float32


def test_check_handles_context_and_images() -> None:
    t = randomise(
        T.AffineCoupling((2, 2, 2), bj.transforms.masks.checkerboard((2, 2, 2)), context=2),
        replace=True,
    )
    bj.check(t, torch.randn(3, 2, 2, 2), torch.randn(3, 2))
    with pytest.raises(TypeError, match="expected a bijective Transform"):
        bj.check(torch.nn.Linear(2, 2), torch.randn(2, 2))
