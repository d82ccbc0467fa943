"""Distillation (the IAF half of Parallel WaveNet's idea, van den Oord et al. 2018;
Kingma et al. 2016): a MAF teacher is fitted to digits by maximum likelihood; an IAF
student of the same size is then fitted to the teacher alone by reverse KL,
E_s[log s(u) - log t(u)], on its own samples (no data). Both live in the teacher's
preprocessed space u = ActNorm(logit(0.05 + 0.9 y)), y the dequantized pixels, where KL
is unchanged (a shared bijection). Reported:
- KL(student || teacher) in nats, exact up to its Monte Carlo error (the teacher is
  normalised, log Z = 0), 100,000 draws;
- test bits/dim of teacher and student (the student with the teacher's preprocessing);
- sampling time for 1,000 samples (median of 15 after warm-up) and the speed-up: the
  student samples in one pass per layer, the teacher in 64 dependent steps per layer.

    python benchmarks/distill.py      # about 4 minutes on 2 cores
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
from report import save

import bijective as bj
import bijective.train as T

TEACHER = {
    "name": "digits-maf-teacher",
    "data": {"name": "digits", "logit": 0.05},
    "model": {"name": "maf", "transforms": 5, "hidden": [256, 256], "dropout": 0.2},
    "train": {"steps": 2000, "batch": 256, "lr": 1e-3, "schedule": "cosine", "eval_every": 100},
}
STUDENT_STEPS, STUDENT_BATCH = 3000, 256


def sampling_ms(flow: bj.Flow, n: int = 1000, repeats: int = 15) -> float:
    times = []
    with torch.no_grad():
        for i in range(repeats + 3):
            start = time.perf_counter()
            flow.sample((n,))
            if i >= 3:
                times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as run:
        config = T.parse_config(TEACHER)
        teacher_results = T.train(config, Path(run) / "teacher", log=lambda _: None)
        experiment = T.open_run(Path(run) / "teacher")
    full = experiment.model.flow  # DequantizedFlow(Compose(Logit, ActNorm, MAF layers))
    prefix, layers = full.transform.transforms[:2], full.transform.transforms[2:]
    teacher = bj.Flow(bj.transforms.Compose(*layers), full.base).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    target = bj.targets.FromCallable(teacher.log_prob, 64, log_normalizer=0.0)

    student = bj.flows.IAF(64, transforms=5, hidden=(256, 256))
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STUDENT_STEPS)
    started = time.perf_counter()
    for _ in range(STUDENT_STEPS):
        loss = bj.objectives.reverse_kl(student, target, STUDENT_BATCH)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 10.0)
        optimizer.step()
        schedule.step()
    student_seconds = time.perf_counter() - started
    student.eval()
    torch.manual_seed(1)
    kl, stderr = bj.objectives.kl_divergence(student, target, n=100_000)

    student_full = bj.Flow(bj.transforms.Compose(*prefix, student.transform), student.base)
    experiment.model.flow = student_full
    student_bpd = bj.objectives.bits_per_dim(experiment.nll(experiment.data.test, 2), 64)
    t_ms, s_ms = sampling_ms(teacher), sampling_ms(student)
    row = {
        "teacher_test_bits_per_dim": teacher_results["test_bits_per_dim"],
        "student_test_bits_per_dim": student_bpd,
        "kl_student_teacher": kl,
        "kl_stderr": stderr,
        "teacher_train_steps": teacher_results["steps"],
        "student_train_steps": STUDENT_STEPS,
        "student_train_seconds": round(student_seconds, 1),
        "teacher_sample_ms": t_ms,
        "student_sample_ms": s_ms,
        "sampling_speedup": t_ms / s_ms,
    }
    print(row)
    header = ["", "teacher (MAF)", "student (IAF)"]
    cells = [
        ["test bits/dim", f"{row['teacher_test_bits_per_dim']:.3f}", f"{student_bpd:.3f}"],
        ["KL(student \\|\\| teacher), nats", "", f"{kl:.2f} ± {stderr:.2f}"],
        ["sampling 1,000 (ms, median)", f"{t_ms:.1f}", f"{s_ms:.1f} ({t_ms / s_ms:.1f}x faster)"],
        [
            "training",
            f"{row['teacher_train_steps']} steps on data",
            f"{STUDENT_STEPS} steps on the teacher, {student_seconds:.0f} s",
        ],
    ]
    save("distill", {"teacher": TEACHER, "student": "IAF 5 x MADE 2x256"}, [row], header, cells)


if __name__ == "__main__":
    main()
