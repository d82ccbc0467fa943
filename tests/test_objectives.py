"""Objectives: gradients against central finite differences (float64, fixed noise), the
bounds' order on a model whose log p(x) is known, and exact KLs."""

import math

import pytest
import torch

import bijective as bj
from bijective import objectives, targets


@pytest.fixture(autouse=True)
def _float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def finite_difference_check(value, parameters, eps=1e-6, tol=1e-6):
    """Autograd gradients of value() equal central differences for every entry."""
    grads = torch.autograd.grad(value(), parameters)
    value = torch.no_grad()(value)
    for p, g in zip(parameters, grads, strict=True):
        flat, grad = p.data.view(-1), g.view(-1)
        for i in range(flat.numel()):
            keep = float(flat[i])
            flat[i] = keep + eps
            up = float(value())
            flat[i] = keep - eps
            down = float(value())
            flat[i] = keep
            assert grad[i].item() == pytest.approx((up - down) / (2 * eps), abs=tol, rel=tol)


def seeded(fn):
    def value():
        torch.manual_seed(7)  # the same base noise every call: a deterministic function
        return fn()

    return value


def test_reverse_kl_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(1)
    transform = bj.transforms.Planar(2, layers=3, generator=g)
    with torch.no_grad():
        transform.b.normal_(generator=g)
    flow = bj.Flow(transform, bj.distributions.StandardNormal(2))
    target = targets.U1()
    finite_difference_check(
        seeded(lambda: objectives.reverse_kl(flow, target, 16, beta=0.7)),
        list(flow.parameters()),
    )


class LinearGaussian(torch.nn.Module):
    """p(z) = N(0, 1), p(x | z) = N(a z, s^2): log p(x) = log N(x; 0, a^2 + s^2) exactly.
    q(z | x) = N(m x, e^(2 l))."""

    def __init__(self):
        super().__init__()
        self.a, self.log_s = (
            torch.nn.Parameter(torch.tensor(1.3)),
            torch.nn.Parameter(torch.tensor(-0.2)),
        )
        self.m, self.l = (
            torch.nn.Parameter(torch.tensor(0.4)),
            torch.nn.Parameter(torch.tensor(-0.5)),
        )

    def log_weights(self, x, k):
        eps = torch.randn(k, *x.shape)
        z = self.m * x + self.l.exp() * eps
        normal = torch.distributions.Normal
        log_joint = normal(0, 1).log_prob(z) + normal(self.a * z, self.log_s.exp()).log_prob(x)
        log_q = normal(self.m * x, self.l.exp()).log_prob(z)
        return log_joint, log_q

    def log_evidence(self, x):
        return torch.distributions.Normal(0, (self.a**2 + self.log_s.exp() ** 2).sqrt()).log_prob(x)


@pytest.mark.parametrize("bound", [objectives.elbo, objectives.iwae])
def test_bound_gradients_match_finite_differences(bound):
    model, x = LinearGaussian(), torch.tensor([0.5, -1.2, 2.0])
    finite_difference_check(
        seeded(lambda: bound(*model.log_weights(x, 5)).sum()), list(model.parameters())
    )


def test_elbo_below_iwae_below_log_evidence_and_iwae_converges():
    model, x = LinearGaussian(), torch.tensor([0.5, -1.2, 2.0])
    torch.manual_seed(0)
    with torch.no_grad():
        log_joint, log_q = model.log_weights(x, 200_000)
        truth = model.log_evidence(x)
        elbo, iwae_5 = objectives.elbo(log_joint, log_q), objectives.iwae(log_joint[:5], log_q[:5])
        iwae = objectives.iwae(log_joint, log_q)
    # The ELBO's gap is KL(q || posterior) > 0 here (q is not the posterior).
    assert (elbo < truth - 1e-2).all()
    assert (iwae <= truth + 1e-3).all()
    assert (iwae > elbo).all()
    torch.testing.assert_close(iwae, truth, atol=5e-3, rtol=0)
    assert iwae_5.shape == (3,)


def test_kl_divergence_is_exact_for_a_gaussian_pair():
    """q = N(0, I) pushed through an affine map, p~ = an unnormalized Gaussian: the
    closed-form KL lies within four standard errors of the estimate."""
    affine = bj.transforms.Affine(2)
    with torch.no_grad():
        affine.shift.copy_(torch.tensor([0.3, -0.2]))
        affine.log_scale.copy_(torch.tensor([0.5, -0.4]))
    flow = bj.Flow(affine, bj.distributions.StandardNormal(2))
    target = targets.FromCallable(lambda z: -0.5 * (z * z).sum(-1), 2, bounds=[(-9, 9)] * 2)
    # x = (z - shift) e^-log_scale, so q = N(-shift e^-ls, e^-2ls) and p = N(0, I).
    mu = -affine.shift.detach() * (-affine.log_scale.detach()).exp()
    var = (-2 * affine.log_scale.detach()).exp()
    exact = 0.5 * float((var + mu * mu - 1 - var.log()).sum())
    torch.manual_seed(0)
    kl, stderr = objectives.kl_divergence(flow, target, n=200_000)
    assert abs(kl - exact) < 4 * stderr
    # The standard error is the spread of log q - log p over sqrt(n), from fresh samples.
    with torch.no_grad():
        z, log_q = flow.sample_and_log_prob((200_000,))
        spread = float((log_q - target(z)).std()) / math.sqrt(200_000)
    assert stderr == pytest.approx(spread, rel=0.05)


def test_distillation_a_student_iaf_approaches_a_teacher_maf():
    """A trained flow is a normalised target (log Z = 0): KL(teacher || teacher) is 0 and
    an IAF student fitted by reverse KL to a random MAF teacher ends close to it."""
    torch.manual_seed(0)
    teacher = bj.flows.MAF(2, transforms=2, hidden=(16, 16))
    for p in teacher.parameters():
        p.data.add_(0.3 * torch.randn_like(p))
        p.requires_grad_(False)
    target = targets.FromCallable(teacher.log_prob, 2, log_normalizer=0.0)
    assert objectives.kl_divergence(teacher, target, n=2000) == pytest.approx((0, 0), abs=1e-9)
    student = bj.flows.IAF(2, transforms=3, hidden=(32, 32))
    before = objectives.kl_divergence(student, target, n=20_000)[0]
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-3)
    for _ in range(300):
        loss = objectives.reverse_kl(student, target, 256)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after, stderr = objectives.kl_divergence(student, target, n=20_000)
    assert after < 0.1 * before and after < 0.05, (before, after, stderr)
