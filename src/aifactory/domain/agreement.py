"""How far a judge agrees with people, and people with each other.

Pure Python, like :mod:`aifactory.domain.stats`:

- **Raw agreement**: the share of labeled items where the judge and the people gave the same
  verdict, with its Wilson score interval.
- **Cohen's kappa**: agreement beyond what the two pass rates alone would give by chance,
  ``κ = (p_o − p_e) / (1 − p_e)``. Its interval is ``κ ± z · SE`` with the large-sample
  standard error of Fleiss, Cohen & Everitt (1969) ("Large sample standard errors of kappa and
  weighted kappa", *Psychological Bulletin* 72, 323–327), the one SAS ``PROC FREQ`` reports as
  "ASE", clipped to [−1, 1]. It is an asymptotic interval: with a few dozen items it is rough,
  and with perfect agreement it has no width.
- **Krippendorff's alpha** (nominal) between reviewers, ``α = 1 − D_o / D_e`` from the
  coincidence matrix of the values given to each unit; units with fewer than two values carry
  no information about agreement and are left out (Krippendorff, *Computing Krippendorff's
  Alpha-Reliability*, 2011).

The positive class is *pass*: ``fp`` is an item the judge passed and the people failed.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from aifactory.domain.models import Interval
from aifactory.domain.stats import wilson_interval, z_score


class Confusion(BaseModel):
    """The judge against the people, pass being positive: ``fp`` the judge passed, people failed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def add(self, *, judge: bool, human: bool) -> Confusion:
        """This matrix with one more item."""
        field = ("tp" if human else "fp") if judge else ("fn" if human else "tn")
        return self.model_copy(update={field: getattr(self, field) + 1})

    def matrix(self) -> list[list[int]]:
        """Rows the judge (pass, fail), columns the people (pass, fail)."""
        return [[self.tp, self.fp], [self.fn, self.tn]]


@dataclass(frozen=True, slots=True)
class Kappa:
    """Cohen's kappa with its large-sample standard error and interval."""

    kappa: float
    se: float
    ci: Interval


def raw_agreement(confusion: Confusion, *, level: float = 0.95) -> tuple[float, Interval] | None:
    """The share of items with the same verdict, with its Wilson interval (None for no items)."""
    n = confusion.total
    if n == 0:
        return None
    agree = confusion.tp + confusion.tn
    ci = wilson_interval(agree, n, z=z_score(level))
    assert ci is not None
    return agree / n, ci.model_copy(update={"level": level})


def cohens_kappa(table: Sequence[Sequence[int]], *, level: float = 0.95) -> Kappa | None:
    """Cohen's kappa of a square table of counts (rows one rater, columns the other).

    The standard error is the large-sample one of Fleiss, Cohen & Everitt (1969): with cell
    proportions ``p_ij``, margins ``p_i.`` and ``p_.j``, observed agreement ``p_o`` and chance
    agreement ``p_e``,

        Var(κ) = [ Σ_i p_ii (1 − (p_i. + p_.i)(1 − κ))²
                   + (1 − κ)² Σ_{i≠j} p_ij (p_.i + p_j.)²
                   − (κ − p_e (1 − κ))² ] / (n (1 − p_e)²)

    None when there are no items, or when chance agreement is 1 (both raters gave one and the
    same verdict to everything: kappa is 0/0 then).
    """
    k = len(table)
    if any(len(row) != k for row in table):
        raise ValueError("Cohen's kappa needs a square table of counts.")
    n = sum(sum(row) for row in table)
    if n == 0:
        return None
    p = [[cell / n for cell in row] for row in table]
    rows = [sum(p[i]) for i in range(k)]
    cols = [sum(p[i][j] for i in range(k)) for j in range(k)]
    p_o = math.fsum(p[i][i] for i in range(k))
    p_e = math.fsum(rows[i] * cols[i] for i in range(k))
    if math.isclose(p_e, 1.0, abs_tol=1e-12):
        return None
    kappa = (p_o - p_e) / (1 - p_e)
    on_diagonal = math.fsum(
        p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(k)
    )
    off_diagonal = (1 - kappa) ** 2 * math.fsum(
        p[i][j] * (cols[i] + rows[j]) ** 2 for i in range(k) for j in range(k) if i != j
    )
    chance = (kappa - p_e * (1 - kappa)) ** 2
    variance = max(0.0, on_diagonal + off_diagonal - chance) / (n * (1 - p_e) ** 2)
    se = math.sqrt(variance)
    half = z_score(level) * se
    ci = Interval(low=max(-1.0, kappa - half), high=min(1.0, kappa + half), level=level)
    return Kappa(kappa=kappa, se=se, ci=ci)


def krippendorff_alpha_nominal(units: Iterable[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha for nominal values; each unit is the values its coders gave it.

    Units with fewer than two values are left out (they cannot show agreement). None when fewer
    than two values remain paired, or when every paired value is the same (no variation: alpha
    is 0/0).
    """
    coincidences: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for values in units:
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_k - 1) if c == k else n_c * n_k
                if pairs:
                    coincidences[(c, k)] += pairs / (m - 1)
    totals: defaultdict[Hashable, float] = defaultdict(float)
    for (c, _k), weight in coincidences.items():
        totals[c] += weight
    n = math.fsum(totals.values())
    if n < 2:
        return None
    disagree_observed = math.fsum(w for (c, k), w in coincidences.items() if c != k)
    disagree_expected = math.fsum(
        totals[c] * totals[k] for c in totals for k in totals if c != k
    ) / (n - 1)
    if disagree_expected == 0:
        return None
    return 1.0 - disagree_observed / disagree_expected
