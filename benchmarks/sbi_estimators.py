"""bijective's flows as sbi density estimators against sbi's own, on the two-moons
simulator, by the classifier two-sample test (c2st: 0.5 is indistinguishable from the
reference posterior, 1.0 is fully distinguishable).

    python benchmarks/sbi_estimators.py [--seeds 3] [--simulations 5000]

Two moons (Greenberg et al. 2019, "Automatic posterior transformation"; sbibm's
definition): theta ~ U(-1, 1)^2, a ~ U(-pi/2, pi/2), r ~ N(0.1, 0.01^2),
x = (r cos a + 0.25, r sin a) + (-|theta1 + theta2| / sqrt 2, (theta2 - theta1) / sqrt 2).
Its likelihood is analytic (polar coordinates around (0.25, 0): N(r; 0.1, 0.01^2) / (pi r)),
so the reference posterior at x_o is sampled from a 1,000 x 1,000 grid over the prior's
box (uniform within each cell). Every estimator is trained by the same sbi NPE loop
(sbi's default training: Adam 5e-4, batch 200, 10% validation, early stopping after 20
epochs) on the same simulations, each seed in its own process, one thread; the rows pair
bijective's NSF and MAF with sbi's "nsf" and "maf" at sbi's defaults (5 transforms, 50
hidden units, 2 hidden layers; sbi's NSF has 10 bins, bijective's is set to 10 too), so
the architectures match in depth, width and bins, not in every detail (the libraries'
own conditioner layouts: labelled as defaults).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from compare import in_process, require, spread  # noqa: E402
from report import markdown, write  # noqa: E402

X_O = torch.tensor([0.0, 0.0])
ESTIMATORS = {
    "bijective nsf": ("bijective", "nsf", {"transforms": 5, "hidden": (50, 50), "bins": 10}),
    "sbi nsf (default)": ("sbi", "nsf", {}),
    "bijective maf": ("bijective", "maf", {"transforms": 5, "hidden": (50, 50)}),
    "sbi maf (default)": ("sbi", "maf", {}),
}


def simulate(theta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n = len(theta)
    a = (torch.rand(n, generator=generator) - 0.5) * math.pi
    r = 0.1 + 0.01 * torch.randn(n, generator=generator)
    p = torch.stack([r * torch.cos(a) + 0.25, r * torch.sin(a)], -1)
    shift = torch.stack(
        [
            -(theta[:, 0] + theta[:, 1]).abs() / math.sqrt(2),
            (theta[:, 1] - theta[:, 0]) / math.sqrt(2),
        ],
        -1,
    )
    return p + shift


def log_likelihood(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """log p(x | theta) for theta (..., 2), x (2)."""
    u = x[0] + (theta[..., 0] + theta[..., 1]).abs() / math.sqrt(2) - 0.25
    v = x[1] - (theta[..., 1] - theta[..., 0]) / math.sqrt(2)
    r = torch.sqrt(u**2 + v**2)
    log_r = -0.5 * ((r - 0.1) / 0.01) ** 2 - math.log(0.01 * math.sqrt(2 * math.pi))
    return torch.where(u > 0, log_r - math.log(math.pi) - r.log(), -math.inf)


def reference(n: int, generator: torch.Generator) -> torch.Tensor:
    """n draws of the posterior at X_O (flat prior on the box) from a 1,000^2 grid."""
    edges = torch.linspace(-1, 1, 1001, dtype=torch.float64)
    centres = (edges[1:] + edges[:-1]) / 2
    grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1)
    log_p = log_likelihood(X_O.double(), grid).flatten()
    cells = torch.multinomial((log_p - log_p.max()).exp(), n, True, generator=generator)
    width = float(edges[1] - edges[0])
    jitter = (torch.rand(n, 2, generator=generator, dtype=torch.float64) - 0.5) * width
    return (grid.reshape(-1, 2)[cells] + jitter).float()


def worker(library: str, model: str, options: str, seed: int, simulations: int) -> dict:
    """One estimator, one seed: trains NPE on `simulations` draws, returns c2st and time."""
    import json
    import os
    import tempfile

    from sbi.inference import NPE
    from sbi.utils import BoxUniform
    from sbi.utils.metrics import c2st

    torch.set_num_threads(1)
    os.chdir(tempfile.mkdtemp())  # sbi writes its sbi-logs/ into the working directory
    generator = torch.Generator().manual_seed(seed)
    prior = BoxUniform(-torch.ones(2), torch.ones(2))
    theta = torch.rand(simulations, 2, generator=generator) * 2 - 1
    x = simulate(theta, generator)
    if library == "bijective":
        from bijective.integrations.sbi import density_estimator

        estimator = density_estimator(model, **json.loads(options))
    else:
        estimator = model
    torch.manual_seed(seed)
    inference = NPE(prior, density_estimator=estimator, show_progress_bars=False)
    started = time.perf_counter()
    trained = inference.append_simulations(theta, x).train()
    seconds = time.perf_counter() - started
    posterior = inference.build_posterior(trained)
    samples = posterior.sample((10_000,), x=X_O, show_progress_bars=False)
    truth = reference(10_000, torch.Generator().manual_seed(10_000 + seed))
    score = float(c2st(samples, truth, seed=seed))
    epochs = len(inference.summary["validation_loss"])
    return {"c2st": score, "train_seconds": seconds, "epochs": epochs}


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--simulations", type=int, default=5000)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, model, options, seed, simulations = args.worker
        result = worker(library, model, options, int(seed), int(simulations))
        print("\n" + json.dumps(result))  # on its own line: sbi ends its report without one
        return
    require("sbi")
    rows = []
    for label, (library, model, options) in ESTIMATORS.items():
        runs = [
            in_process(
                __file__,
                "--worker",
                library,
                model,
                json.dumps(options),
                str(seed),
                str(args.simulations),
            )
            for seed in range(args.seeds)
        ]
        rows.append({"estimator": label, "runs": runs})
        scores = [r["c2st"] for r in runs]
        print(f"{label}: c2st {spread(scores, 3)}", flush=True)
    cells = [
        [
            row["estimator"],
            spread([r["c2st"] for r in row["runs"]], 3),
            spread([r["train_seconds"] for r in row["runs"]], 1),
            spread([r["epochs"] for r in row["runs"]], 0),
        ]
        for row in rows
    ]
    header = ["estimator", "c2st (0.5 best)", "training s", "epochs"]
    text = (
        f"Two moons, NPE at x_o = (0, 0), {args.simulations:,} simulations, {args.seeds} "
        "seeds (median [min-max]), sbi's training loop, 1 thread per process.\n\n"
        + markdown(header, cells)
    )
    settings = {"simulations": args.simulations, "seeds": args.seeds, "threads": 1}
    write("sbi_estimators", settings, rows, text)
    print(text)


if __name__ == "__main__":
    main()
