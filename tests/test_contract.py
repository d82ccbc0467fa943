"""The DESIGN.md contract snippet, verbatim, and the layering rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def test_design_contract_snippet_runs_verbatim() -> None:
    x = torch.randn(32, 8)
    n = 10
    import bijective as bj

    t = bj.transforms.AffineCoupling(features=8, mask=bj.transforms.masks.alternating(8))
    z, ladj = t(x)  # forward: x -> z, ladj = log|det dz/dx|, shape = batch shape
    x2, ladj_inv = t.inverse(z)  # inverse: z -> x, ladj_inv = log|det dx/dz| (= -ladj at x2)
    t.inv  # the inverse as a Transform (a view, no copy)  # noqa: B018 (verbatim snippet)
    t1, t2, t3 = t, bj.transforms.LULinear(8), t.inv
    bj.transforms.Compose(t1, t2, t3)  # itself a Transform

    transform = bj.transforms.Compose(t1, t2, t3)
    flow = bj.Flow(transform, base=bj.distributions.StandardNormal((8,)))
    flow.log_prob(x)  # exact log density, Tensor[batch]
    flow.sample((n,))  # Tensor[n, *event]; temperature= scales the base
    flow.sample_and_log_prob((n,))  # both in one pass (the reverse-KL workhorse)
    flow.encode(x) / flow.decode(z)  # latent inference and generation
    flow.as_distribution()  # a torch.distributions.Distribution view
    bj.check(transform, x)  # invertibility + log-det against the autograd Jacobian

    assert z.shape == x.shape and ladj.shape == (32,)
    torch.testing.assert_close(x2, x)
    torch.testing.assert_close(ladj_inv, -ladj)
    assert isinstance(t.inv, bj.transforms.Transform) and t.inv.inv is t
    assert t.inv.transform is t  # a view: the same module, not a copy
    assert flow.sample((n,), temperature=0.5).shape == (n, 8)


def test_core_imports_no_plotting_training_or_cli() -> None:
    # bj.viz is there at once, but matplotlib loads only when a plot is drawn; bj.train
    # (and the config validator it brings) on first use.
    code = (
        "import sys, bijective; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('matplotlib', 'yaml', 'pydantic', 'safetensors') "
        "or m.startswith(('bijective.train', 'bijective.cli', 'bijective.catalogue'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_package_is_typed() -> None:
    import importlib.resources

    assert importlib.resources.files("bijective").joinpath("py.typed").is_file()


def _readme_block(heading: str, language: str) -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(rf"{heading}.*?```{language}\n(.*?)```", readme, re.S)
    assert block, f"README lost its {heading} {language} block"
    return block.group(1)


def test_readme_config_is_the_shipped_one_and_its_error_line_is_real(tmp_path) -> None:
    import yaml

    import bijective.train as T

    shown = yaml.safe_load(_readme_block("### A config", "yaml"))
    root = Path(__file__).resolve().parents[1]
    assert T.parse_config(shown) == T.load_config(root / "configs" / "moons-maf.yaml")
    readme = (root / "README.md").read_text()
    error = re.search(r"\nbijective: error: configs/moons-maf.yaml: (.*?)\n", readme)
    assert error, "README lost its config error example"
    message = error.group(1)
    with pytest.raises(T.ConfigError) as caught:
        T.load_config(root / "configs" / "moons-maf.yaml", ["model.bins=8"])
    assert str(caught.value).endswith(message)
