"""A density of whole table rows: categorical, count and continuous columns, bounds,
angles, heavy tails and missing entries, with an exact likelihood.

    log p(row) = log P(c) + sum_j log P(k_j | c, k_<j) + sum_j log p(y_j | c, k, y_<j)

c: the categorical variables (each categorical column, with an extra category "missing"
where it has missing entries, then one missing/present indicator per count or continuous
column with missing entries), modelled by a MADE (bijective.models.MADE) or a causal
transformer (bijective.models.Transformer) whose logits of impossible values are masked.
k: the counts, y: the continuous columns, in column order, one autoregressive model
(bijective.nn.MaskedMLP, the one-hot c as its context) giving each its element-wise map
z_j = G_j(v_j): `layers` x (affine, rational-quadratic spline) of v_j, the column's value
taken to the real line by its bounds (data.schema.to_real) and standardised.

- Continuous y_j: log p = log f(z_j) + log G_j'(v_j) + log |dv_j/dy_j|, with f the
  standard normal, or a Student-t with a learned degree of freedom per column for
  `heavy_tails` columns (Jaini et al. 2020, "Tails of Lipschitz Triangular Flows": a
  flow of Lipschitz maps keeps its base's tails, and a spline's tails are linear).
- Angles (`period`): the circle mapped onto [-B, B) (B = `bound`), each layer a rotation
  (mod 2B) then a spline with end slopes 1 (a circle diffeomorphism, Rezende et al. 2020,
  "Normalizing Flows on Tori and Spheres"), base uniform.
- Counts k_j: P(k) = F(G(v(k + 1))) - F(G(v(k))), the exact mass of [k, k + 1) under the
  monotone map (the limit of dequantization: no bound, no sampling), F the normal CDF; a
  later column sees k.
- Missing entries: a count or continuous column's missing entry contributes nothing
  beyond its indicator, and later columns see 0 and the indicator: log p of a row is the
  exact density of what is observed, P(pattern, c) p(observed values | pattern, c), and
  sums (integrates) to 1 over patterns and values.
- A value outside its column's support has log p = -inf.

Rows are encoded as data.schema.Schema.encode gives them: float (N, C), NaN where missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.schema import ColumnSpec, Schema, from_real, to_real
from ..models import MADE, Transformer
from ..nn import MaskedMLP
from ..recorded import Recorded
from ..transforms import SplineTransformer
from ..validation import check_sampling
from .rows import check_rows, student_t_log_prob

_START_DOF = 10.0  # the Student-t degrees of freedom a heavy-tailed column starts from


class Tabular(Recorded, nn.Module):
    """A bj.Density of encoded table rows (N, C) -> log p (N), in nats (see the module
    docstring for the model). sample(shape, temperature) returns encoded rows; the
    temperature divides categorical logits and scales the normal and Student-t bases
    (angles are drawn at temperature 1).

    Args:
        schema: the columns (`bijective.data.schema.Schema` or its `to_dict()`).
        hidden: hidden sizes of the counts' and continuous columns' MADE.
        categorical: "made" or "transformer", the model of the categorical variables.
        categorical_hidden: the MADE's hidden sizes, or the transformer's width (the
            first) and depth (how many), with 4 heads.
        bins: K, bins of each spline.
        layers: affine + spline pairs per column.
        bound: the splines act on [-bound, bound] (standardised units).
        dropout: after every hidden activation of the continuous part (train mode).

    Example:
        >>> import bijective as bj
        >>> table = bj.data.tables.as_table({"kind": ["a", "b", "a", "b"],
        ...                                  "size": [1.5, 2.0, 0.7, 3.1]})
        >>> schema = bj.data.schema.infer(table)
        >>> model = bj.tabular.Tabular(schema.to_dict(), hidden=(16,), categorical_hidden=(8,))
        >>> rows = torch.as_tensor(schema.encode(table), dtype=torch.float32)
        >>> model.log_prob(rows).shape
        torch.Size([4])
    """

    def __init__(
        self,
        schema: dict[str, Any],
        hidden: Sequence[int] = (128, 128),
        categorical: Literal["made", "transformer"] = "made",
        categorical_hidden: Sequence[int] = (128,),
        bins: int = 8,
        layers: int = 2,
        bound: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.schema = Schema.from_dict(schema)
        columns = self.schema.columns
        if not columns:
            raise ValueError("Tabular: the schema has no columns")
        if layers < 1:
            raise ValueError(f"Tabular: layers must be >= 1; got {layers}")
        self.event_shape = torch.Size([len(columns)])
        self.categorical = [j for j, c in enumerate(columns) if c.kind == "categorical"]
        real = [j for j, c in enumerate(columns) if c.kind == "count"]
        self.real = real + [j for j, c in enumerate(columns) if c.kind == "continuous"]
        self.indicated = [j for j in self.real if columns[j].missing]
        self.levels = [len(columns[j].categories) + columns[j].missing for j in self.categorical]
        self.levels += [2] * len(self.indicated)
        self.layers, self.bound = layers, float(bound)
        self.spline = SplineTransformer(bins=bins, bound=bound)
        self.per_layer = 2 + self.spline.params
        self.discrete = None
        if self.levels:
            variables, most = len(self.levels), max(self.levels)
            if categorical == "made":
                self.discrete = MADE(variables, levels=most, hidden=categorical_hidden)
            elif categorical == "transformer":
                width, depth = categorical_hidden[0], len(categorical_hidden)
                self.discrete = Transformer(variables, levels=most, width=width, depth=depth)
            else:
                raise ValueError(
                    f"Tabular: categorical is made or transformer; got {categorical!r}"
                )
            possible = torch.arange(max(self.levels))[None, :] < torch.tensor(self.levels)[:, None]
            self.register_buffer("possible", possible, persistent=False)
        self.net = None
        if self.real:
            self.net = MaskedMLP(
                len(self.real),
                layers * self.per_layer,
                hidden=hidden,
                context=sum(self.levels),
                dropout=dropout,
            )
        specs = [columns[j] for j in self.real]
        kinds = torch.tensor([(s.kind == "count") + 2 * (s.period is not None) for s in specs])
        self.register_buffer("kind", kinds.long(), persistent=False)  # 0 cont, 1 count, 2 angle
        heavy = torch.tensor([s.heavy_tails for s in specs], dtype=torch.bool)
        self.register_buffer("heavy", heavy, persistent=False)
        raw = math.log(math.expm1(_START_DOF - 0.5))
        self.tail = nn.Parameter(torch.full((int(heavy.sum()),), raw))

    # -- the categorical part ---------------------------------------------------------

    def _codes(self, x: Tensor) -> Tensor:
        """The categorical variables (N, V): codes (missing -> the extra category), then
        the indicators of the real columns with missing entries."""
        columns = self.schema.columns
        parts = []
        for j in self.categorical:
            parts.append(torch.nan_to_num(x[:, j], nan=len(columns[j].categories)))
        parts += [x[:, j].isnan().to(x.dtype) for j in self.indicated]
        return torch.stack(parts, 1) if parts else x.new_zeros(len(x), 0)

    def _log_softmax(self, codes: Tensor) -> Tensor:
        """log P(variable i = each value | the ones before) (N, V, L), impossible values -inf."""
        logits = self.discrete.logits(codes)
        if self.discrete.levels == 2:
            logits = torch.stack([torch.zeros_like(logits), logits], -1)
        return logits.masked_fill(~self.possible, -math.inf).log_softmax(-1)

    def _context(self, codes: Tensor) -> Tensor | None:
        if not self.levels:
            return None
        return torch.cat(
            [F.one_hot(codes[:, i].long(), k) for i, k in enumerate(self.levels)], 1
        ).to(codes.dtype)

    # -- the counts and continuous columns --------------------------------------------

    def _real_features(self, y: Tensor) -> dict[str, Tensor]:
        """Per real column (N, R): v (a count's upper edge k + 1), lo (a count's lower edge
        k), u (what later columns see), the log-derivative of y -> v, which entries are
        present, inside the support, and at a count's lower bound."""
        present = ~y.isnan()
        v, lo, u, ld, inside, at_lower = ([] for _ in range(6))
        for r, j in enumerate(self.real):
            spec, col = self.schema.columns[j], y[:, r]
            ok = present[:, r]
            if spec.period is not None:
                theta = torch.remainder(torch.nan_to_num(col), spec.period) / spec.period
                value = (2 * theta - 1) * self.bound
                v.append(value), lo.append(value), u.append(torch.where(ok, value, 0.0))
                ld.append(torch.full_like(col, math.log(2 * self.bound / spec.period)))
                inside.append(ok), at_lower.append(torch.zeros_like(ok))
                continue
            low = -math.inf if spec.lower is None else spec.lower
            high = math.inf if spec.upper is None else spec.upper
            count = spec.kind == "count"
            good = ok & ((col >= low) & (col <= high) if count else (col > low) & (col < high))
            safe = _inside(spec.lower, spec.upper)
            y_safe = torch.where(good, col, safe)

            if count:
                floor = good & (y_safe == low)
                upper, _ = _standardised(y_safe + 1, spec)
                lower, _ = _standardised(torch.where(floor, y_safe + 1, y_safe), spec)
                middle, _ = _standardised(y_safe + 0.5, spec)
                v.append(upper), lo.append(lower), u.append(torch.where(good, middle, 0.0))
                ld.append(torch.zeros_like(col)), at_lower.append(floor)
            else:
                value, log_derivative = _standardised(y_safe, spec)
                v.append(value), lo.append(value), u.append(torch.where(good, value, 0.0))
                ld.append(log_derivative), at_lower.append(torch.zeros_like(ok))
            inside.append(good)
        stack = lambda parts: torch.stack(parts, 1)  # noqa: E731
        return {
            "v": stack(v),
            "lo": stack(lo),
            "u": stack(u),
            "ld": stack(ld),
            "present": present,
            "inside": stack(inside),
            "at_lower": stack(at_lower),
        }

    def _layers(self, params: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """(log-scale, shift, spline parameters) of each layer from params (*, R, P)."""
        out = []
        for chunk in params.split(self.per_layer, -1):
            out.append((chunk[..., 0], chunk[..., 1], chunk[..., 2:]))
        return out

    def _forward(self, v: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """z = G(v) and log G'(v), element-wise (*, N, R) with params (N, R, P)."""
        angle = self.kind == 2
        total = torch.zeros_like(v)
        for log_scale, shift, spline in self._layers(params):
            log_scale = log_scale.masked_fill(angle, 0.0)
            v = v * log_scale.exp() + shift
            v = torch.where(angle, torch.remainder(v + self.bound, 2 * self.bound) - self.bound, v)
            v, log_slope = self.spline.forward(v, spline)
            total = total + log_scale + log_slope
        return v, total

    def _base_log_prob(self, z: Tensor) -> Tensor:
        """log f(z) per real column (N, R): normal, Student-t (heavy) or uniform (angles)."""
        normal = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
        out = normal
        if self.heavy.any():
            heavy = student_t_log_prob(z[:, self.heavy], self.degrees())
            out = out.clone()
            out[:, self.heavy] = heavy
        return torch.where(self.kind == 2, -math.log(2 * self.bound), out)

    def degrees(self) -> Tensor:
        """The Student-t degrees of freedom of the heavy-tailed columns, 0.5 + softplus."""
        return 0.5 + F.softplus(self.tail)

    # -- the density ----------------------------------------------------------------

    def log_prob_parts(self, x: Tensor, context: Tensor | None = None) -> dict[str, Tensor]:
        """log p(row) split by column type: "categorical" (with the missing indicators),
        "count" and "continuous" (the angles among them), each (*batch)."""
        rows, batch = check_rows(f"{type(self).__name__}.log_prob", self, x, context)
        rows = rows.to(self._dtype())
        parts = {
            "categorical": rows.new_zeros(len(rows)),
            "count": rows.new_zeros(len(rows)),
            "continuous": rows.new_zeros(len(rows)),
        }
        codes = self._codes(rows)
        if self.discrete is not None and len(rows):
            log_p = self._log_softmax(codes).gather(-1, codes.long().unsqueeze(-1)).squeeze(-1)
            parts["categorical"] = log_p.sum(-1)
        if self.net is not None and len(rows):
            y = rows[:, self.real]
            f = self._real_features(y)
            params = self.net(f["u"], self._context(codes))
            z, ladj = self._forward(torch.stack([f["v"], f["lo"]]), params)
            density = self._base_log_prob(z[0]) + ladj[0] + f["ld"]
            mass = _log_interval(z[1], z[0], f["at_lower"])
            count = self.kind == 1
            terms = torch.where(count, mass, density)
            terms = torch.where(f["inside"], terms, -math.inf)
            terms = torch.where(f["present"], terms, 0.0)
            parts["count"] = terms[:, count].sum(-1)
            parts["continuous"] = terms[:, ~count].sum(-1)
        return {k: v.view(batch) for k, v in parts.items()}

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x) in nats, exact: encoded rows (*batch, C) -> (*batch)."""
        return sum(self.log_prob_parts(x, context).values())

    def _dtype(self) -> torch.dtype:
        return self.tail.dtype

    @torch.no_grad()
    def sample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Encoded rows (*shape, C), drawn column by column (NaN where drawn missing)."""
        where = f"{type(self).__name__}.sample"
        shape = check_sampling(where, shape, temperature, context, 0)
        n = math.prod(shape)
        anchor = self.tail
        rows = torch.full(
            (n, len(self.schema.columns)), math.nan, dtype=anchor.dtype, device=anchor.device
        )
        codes = rows.new_zeros(n, len(self.levels))
        for i in range(len(self.levels)):
            logits = self._log_softmax(codes)[:, i] / temperature
            codes[:, i] = torch.multinomial(logits.softmax(-1), 1).squeeze(-1).to(codes.dtype)
        columns = self.schema.columns
        for i, j in enumerate(self.categorical):
            drawn = codes[:, i]
            rows[:, j] = torch.where(drawn == len(columns[j].categories), math.nan, drawn)
        if self.net is not None:
            rows[:, self.real] = self._sample_real(codes, temperature)
        return rows.view(*shape, len(columns))

    def _sample_real(self, codes: Tensor, temperature: float) -> Tensor:
        """The count and continuous columns (N, R), one network pass per column."""
        n, context = len(codes), self._context(codes)
        y = codes.new_full((n, len(self.real)), math.nan)
        missing = codes.new_zeros(n, len(self.real), dtype=torch.bool)
        for i, j in enumerate(self.indicated):
            missing[:, self.real.index(j)] = codes[:, len(self.categorical) + i] == 1
        heavy_index = self.heavy.cumsum(0) - 1
        for r, j in enumerate(self.real):
            spec = self.schema.columns[j]
            params = self.net(self._real_features(y)["u"], context)[:, r]
            if spec.period is not None:
                z = (torch.rand(n, dtype=y.dtype, device=y.device) * 2 - 1) * self.bound
            elif self.heavy[r]:
                dof = self.degrees()[heavy_index[r]]
                z = torch.distributions.StudentT(dof).sample((n,)).to(y.dtype) * temperature
            else:
                z = torch.randn(n, dtype=y.dtype, device=y.device) * temperature
            v = self._invert(z, params, spec.period is not None)
            if spec.period is not None:
                value = (v / self.bound + 1) / 2 * spec.period
            else:
                value = from_real(v * spec.scale + spec.shift, spec.lower, spec.upper)
                if spec.kind == "count":
                    value = value.floor()
                    if spec.lower is not None:
                        value = value.clamp_min(spec.lower)
            y[:, r] = torch.where(missing[:, r], math.nan, value)
        return y

    def _invert(self, z: Tensor, params: Tensor, angle: bool) -> Tensor:
        """v = G^{-1}(z) for one column: z (N), params (N, P)."""
        for log_scale, shift, spline in reversed(self._layers(params)):
            z, _ = self.spline.inverse(z, spline)
            if angle:
                z = torch.remainder(z - shift + self.bound, 2 * self.bound) - self.bound
            else:
                z = (z - shift) * (-log_scale).exp()
        return z


def _standardised(y: Tensor, spec: ColumnSpec) -> tuple[Tensor, Tensor]:
    """(to_real(y) - shift) / scale and its log-derivative."""
    v, log_derivative = to_real(y, spec.lower, spec.upper)
    return (v - spec.shift) / spec.scale, log_derivative - math.log(spec.scale)


def _inside(lower: float | None, upper: float | None) -> float:
    """A value inside (lower, upper), for the entries outside it (whose log p is -inf)."""
    if lower is not None and upper is not None:
        return (lower + upper) / 2
    if lower is not None:
        return lower + 1
    return 0.0 if upper is None else upper - 1


def _log_interval(a: Tensor, b: Tensor, from_minus_infinity: Tensor) -> Tensor:
    """log(Phi(b) - Phi(a)) for a < b (Phi(a) = 0 where `from_minus_infinity`), in float64,
    from the tail each pair lies in so that no difference of two numbers near 1 is taken."""
    dtype, a, b = a.dtype, a.double(), b.double()
    upper = (
        a > 0
    ) & ~from_minus_infinity  # both in the upper tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b)
    high = torch.special.log_ndtr(torch.where(upper, -a, b))
    low = torch.special.log_ndtr(torch.where(upper, -b, a))
    low = torch.where(from_minus_infinity, -math.inf, low)
    ratio = (low - high).clamp(max=-1e-15)
    return (high + torch.log1p(-ratio.exp())).to(dtype)
