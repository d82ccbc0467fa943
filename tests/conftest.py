"""Suite-wide options: `--device` (cpu, cuda, cuda:N) and `--dtype` (float64, float32)
for the core transform harness (tests/transforms/test_harness.py through registry.make),
so the same checks run on a GPU where there is one:

    python -m pytest tests/transforms/test_harness.py --device cuda
"""

from __future__ import annotations

import pytest
import registry
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="the harness's device (cpu, cuda, cuda:N)")
    parser.addoption(
        "--dtype", default="float64", choices=["float64", "float32"], help="the harness's dtype"
    )


def pytest_configure(config: pytest.Config) -> None:
    device = torch.device(config.getoption("--device"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError(f"--device {device}: this machine has no CUDA device")
    registry.DEVICE, registry.DTYPE = device, getattr(torch, config.getoption("--dtype"))
