"""bj.export: the exported program computes what the eager model computes (float32
tolerance) on fresh inputs of other batch sizes than it was traced with (the batch is
dynamic), for the vector flows, Glow at a fixed shape and the discrete autoregressive
models; a .pt2 runs where bijective cannot be imported; ONNX where onnx is installed;
what cannot be exported is one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import bijective as bj
from bijective.exporting import ExportError, context_size

FLOWS = {
    "maf": lambda: bj.flows.MAF(3, transforms=2, hidden=(16, 16)),
    "maf-context": lambda: bj.flows.MAF(3, context=2, transforms=2, hidden=(16,)),
    "iaf": lambda: bj.flows.IAF(3, transforms=2, hidden=(16,)),
    "nsf": lambda: bj.flows.NSF(3, transforms=2, hidden=(16,), bins=4),
    "nsf-coupling": lambda: bj.flows.NSF(3, transforms=2, hidden=(16,), variant="coupling"),
    "realnvp": lambda: bj.flows.RealNVP(3, transforms=2, hidden=(16,)),
    "nice": lambda: bj.flows.NICE(3, transforms=2, hidden=(16,)),
    "glow": lambda: bj.flows.Glow((1, 8, 8), scales=2, steps=1, channels=8),
}
DISCRETE = {
    "fvsbn": lambda: bj.models.FVSBN(6),
    "nade": lambda: bj.models.NADE(6, hidden=8),
    "made": lambda: bj.models.MADE(6, hidden=(16,), levels=3),
    "pixelcnn": lambda: bj.models.PixelCNN((1, 4, 4), channels=4, blocks=1, context=2),
    "gated-pixelcnn": lambda: bj.models.GatedPixelCNN((1, 4, 4), channels=4, layers=2),
    "lstm": lambda: bj.models.Recurrent(6, levels=4, hidden=8),
    "transformer": lambda: bj.models.Transformer(6, levels=3, width=8, depth=2, heads=2),
}


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    if isinstance(model, bj.flows.Flow) and not context_size(model):  # ActNorm's first batch
        model.log_prob(torch.rand(16, *model.event_shape))
    return model.eval()


def inputs(model: torch.nn.Module, n: int) -> tuple[torch.Tensor, ...]:
    if isinstance(model, bj.models.DiscreteAutoregressive):
        x = torch.randint(model.levels, (n, *model.event_shape)).float()
    else:
        x = torch.rand(n, *model.event_shape)
    context = context_size(model)
    return (x, torch.randn(n, context)) if context else (x,)


@pytest.mark.parametrize("name", [*FLOWS, *DISCRETE])
def test_the_exported_log_prob_equals_the_model_at_any_batch(tmp_path, name) -> None:
    model = randomised({**FLOWS, **DISCRETE}[name]())
    program = torch.export.load(bj.export(model, tmp_path / f"{name}.pt2")).module()
    for n in (1, 7, 33):
        args = inputs(model, n)
        with torch.no_grad():
            torch.testing.assert_close(program(*args), model.log_prob(*args))


@pytest.mark.parametrize("name", FLOWS)
def test_the_exported_sampling_map_gives_the_models_samples(tmp_path, name) -> None:
    flow = randomised(FLOWS[name]())
    program = torch.export.load(bj.export(flow, tmp_path / "s.pt2", "sample")).module()
    context = torch.randn(5, 2) if context_size(flow) else None
    torch.manual_seed(1)
    want = flow.sample((5,) if context is None else (), context, temperature=0.7)
    torch.manual_seed(1)
    z = 0.7 * torch.randn(5, *flow.transform.latent_shape)
    got = program(z) if context is None else program(z, context)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_a_program_runs_where_bijective_cannot_be_imported(tmp_path) -> None:
    model = randomised(FLOWS["nsf"]())
    bj.export(model, tmp_path / "nsf.pt2")
    x = torch.rand(9, 3)
    torch.save(x, tmp_path / "x.pt")
    code = (
        "import sys, torch; sys.modules['bijective'] = None\n"  # any import of it fails
        f"program = torch.export.load({str(tmp_path / 'nsf.pt2')!r}).module()\n"
        f"torch.save(program(torch.load({str(tmp_path / 'x.pt')!r})), "
        f"{str(tmp_path / 'out.pt')!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    with torch.no_grad():
        torch.testing.assert_close(torch.load(tmp_path / "out.pt"), model.log_prob(x))


def test_onnx_where_it_is_installed(tmp_path) -> None:
    runtime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = randomised(FLOWS["realnvp"]())
    path = bj.export(model, tmp_path / "realnvp.onnx")
    session = runtime.InferenceSession(str(path))
    name = session.get_inputs()[0].name
    for n in (2, 11):
        x = torch.rand(n, 3)
        got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        with torch.no_grad():
            torch.testing.assert_close(got, model.log_prob(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("model", "method", "message"),
    [
        (lambda: bj.flows.FFJORD(2, hidden=(8,)), "log_prob", "FFJORD holds a ContinuousFlow"),
        (lambda: bj.flows.ResidualFlow(2, blocks=1, hidden=(8,)), "sample", "InvertibleResidual"),
        (lambda: bj.models.VAE(4, latent=2, hidden=(8,)), "log_prob", "VAE's log_prob is a random"),
        (
            lambda: bj.flows.dequantized(bj.flows.MAF(2, transforms=1), levels=4),
            "log_prob",
            "export its .flow",
        ),
        (lambda: bj.models.FVSBN(4), "sample", "FVSBN samples step by step"),
        (lambda: bj.flows.MAF(2, transforms=1), "density", "method must be 'log_prob' or"),
    ],
)
def test_what_cannot_be_exported_is_one_line_and_writes_nothing(
    tmp_path, model, method, message
) -> None:
    with pytest.raises(ExportError, match=message):
        bj.export(model(), tmp_path / "m.pt2", method)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_file_name_is_one_line(tmp_path) -> None:
    with pytest.raises(ExportError, match=r"expected a .pt2 or .onnx file name"):
        bj.export(FLOWS["maf"](), tmp_path / "m.pt")
