"""`train.precision: bf16`: conditioners compute in bfloat16, while transforms, inverses
and log-dets stay float32, so sampling still inverts log_prob to float32 accuracy."""

from __future__ import annotations

import pytest
import torch
from runs import tiny

import bijective as bj
from bijective.nn import precision
from bijective.nn.precision import lower_precision

F = bj.flows
FLOWS = {
    "maf": lambda: F.MAF(4, transforms=2, hidden=(16,)),
    "nsf": lambda: F.NSF(4, transforms=2, hidden=(16,)),
    "nsf-coupling": lambda: F.NSF(4, transforms=2, hidden=(16,), variant="coupling"),
    "realnvp": lambda: F.RealNVP(4, transforms=2, hidden=(16,)),
    "glow": lambda: F.Glow((2, 4, 4), scales=1, steps=2, channels=8),
}


def _randomised(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    flow = FLOWS[name]()
    flow.log_prob(torch.randn(64, *flow.event_shape))  # ActNorm's initialisation
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))  # away from the identity, well conditioned
    return flow.eval()


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_under_bf16_sampling_inverts_log_prob_to_float32_accuracy(name: str) -> None:
    flow = _randomised(name)
    torch.manual_seed(1)
    with lower_precision(torch.bfloat16), torch.no_grad():
        x, log_q = flow.sample_and_log_prob((32,))
        log_p = flow.log_prob(x)
        back = flow.decode(flow.encode(x))
    assert x.dtype == torch.float32 and log_p.dtype == torch.float32
    torch.testing.assert_close(log_p, log_q, atol=2e-3, rtol=1e-4)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)
    gap = (flow.log_prob(x) - log_p).abs()  # float32 conditioners: near, not equal
    assert gap.max() > 0 and gap.median() < 0.2  # so bf16 did run


def test_a_bf16_run_trains_and_says_when_bf16_is_emulated(tmp_path) -> None:
    lines = []
    config = bj.train.parse_config(tiny(train={"precision": "bf16", "steps": 20}))
    results = bj.train.train(config, tmp_path / "run", log=lines.append)
    assert torch.isfinite(torch.tensor(results["test_nll"]))
    emulated = any("bfloat16 instructions, so it is emulated" in line for line in lines)
    assert emulated == (not precision.cpu_has_bf16())


def test_precision_takes_fp32_or_bf16() -> None:
    with pytest.raises(bj.train.ConfigError, match="train.precision"):
        bj.train.parse_config(tiny(train={"precision": "fp16"}))
