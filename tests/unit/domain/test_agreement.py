"""Agreement statistics against published values: Cohen's kappa and its interval, Krippendorff's
alpha, raw agreement."""

from __future__ import annotations

import math
import random

import pytest

from aifactory.domain.agreement import (
    Confusion,
    cohens_kappa,
    krippendorff_alpha_nominal,
    raw_agreement,
)


def test_kappa_and_its_interval_match_sas_proc_freq() -> None:
    # The SAS PROC FREQ agreement example (3 categories, 19 items), as SAS prints it:
    # Simple Kappa 0.4842, ASE 0.1380, 95% confidence limits 0.2137 and 0.7547.
    found = cohens_kappa([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    assert found is not None
    assert found.kappa == pytest.approx(0.4842, abs=5e-5)
    assert found.se == pytest.approx(0.1380, abs=5e-5)
    assert found.ci.low == pytest.approx(0.2137, abs=5e-5)
    assert found.ci.high == pytest.approx(0.7547, abs=5e-5)
    assert found.ci.level == 0.95


def test_kappa_of_a_two_by_two_table() -> None:
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    found = cohens_kappa([[20, 5], [10, 15]])
    assert found is not None
    assert found.kappa == pytest.approx(0.4)
    # By hand, Fleiss-Cohen-Everitt: row margins 0.5, 0.5; column margins 0.6, 0.4; 1 - kappa 0.6.
    # A = 0.4 (1 - 1.1·0.6)² + 0.3 (1 - 0.9·0.6)² = 0.10972
    # B = 0.6² (0.1 (0.6 + 0.5)² + 0.2 (0.4 + 0.5)²) = 0.10188
    # C = (0.4 - 0.5·0.6)² = 0.01;  Var = (A + B - C) / (50 · 0.5²) = 0.016128
    assert found.se == pytest.approx(math.sqrt(0.016128), rel=1e-9)


def test_the_kappa_interval_matches_the_spread_of_a_bootstrap() -> None:
    # The large-sample SE against an independent estimate: the seeded bootstrap's spread.
    rng = random.Random(11)
    pairs = []
    for _ in range(600):
        truth = rng.random() < 0.6
        judge = truth if rng.random() < 0.85 else not truth
        person = truth if rng.random() < 0.95 else not truth
        pairs.append((judge, person))

    def table(sample: list[tuple[bool, bool]]) -> list[list[int]]:
        c = Confusion()
        for judge, person in sample:
            c = c.add(judge=judge, human=person)
        return c.matrix()

    found = cohens_kappa(table(pairs))
    assert found is not None
    kappas = []
    for _ in range(400):
        resampled = cohens_kappa(table(rng.choices(pairs, k=len(pairs))))
        assert resampled is not None
        kappas.append(resampled.kappa)
    mean = sum(kappas) / len(kappas)
    spread = math.sqrt(sum((k - mean) ** 2 for k in kappas) / (len(kappas) - 1))
    assert found.se == pytest.approx(spread, rel=0.12)


def test_kappa_at_the_edges() -> None:
    assert cohens_kappa([[0, 0], [0, 0]]) is None
    # Both gave every item a pass: chance agreement is 1, kappa is 0/0.
    assert cohens_kappa([[30, 0], [0, 0]]) is None
    perfect = cohens_kappa([[12, 0], [0, 8]])
    assert perfect is not None and perfect.kappa == pytest.approx(1.0)
    assert perfect.ci.low == pytest.approx(1.0) and perfect.ci.high == 1.0
    opposite = cohens_kappa([[0, 10], [10, 0]])
    assert opposite is not None and opposite.kappa == pytest.approx(-1.0)
    assert opposite.ci.low >= -1.0
    with pytest.raises(ValueError, match="square"):
        cohens_kappa([[1, 2, 3], [4, 5, 6]])


def test_the_kappa_interval_follows_its_level() -> None:
    wide = cohens_kappa([[20, 5], [10, 15]], level=0.95)
    narrow = cohens_kappa([[20, 5], [10, 15]], level=0.80)
    assert wide is not None and narrow is not None
    ratio = (narrow.ci.high - narrow.ci.low) / (wide.ci.high - wide.ci.low)
    assert ratio == pytest.approx(1.2815516 / 1.9599640, rel=1e-6)


def test_krippendorffs_reliability_data_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders, 12 units,
    # missing values; nominal alpha = 0.743.
    rows = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[v for v in unit if v is not None] for unit in zip(*rows, strict=True)]
    alpha = krippendorff_alpha_nominal(units)
    assert alpha is not None
    assert round(alpha, 3) == 0.743


def test_krippendorffs_binary_example() -> None:
    # The same paper: two observers, ten units, binary values; alpha = 0.095.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    alpha = krippendorff_alpha_nominal(list(zip(a, b, strict=True)))
    assert alpha is not None
    assert round(alpha, 3) == 0.095


def test_alpha_edges() -> None:
    assert krippendorff_alpha_nominal([]) is None
    assert krippendorff_alpha_nominal([[True], [False]]) is None  # nobody overlaps
    assert krippendorff_alpha_nominal([[True, True], [True, True]]) is None  # no variation
    assert krippendorff_alpha_nominal([[True, True], [False, False]]) == pytest.approx(1.0)


def test_raw_agreement_has_a_wilson_interval() -> None:
    found = raw_agreement(Confusion(tp=60, fp=10, fn=5, tn=25))
    assert found is not None
    share, ci = found
    assert share == pytest.approx(0.85)
    assert ci.low < 0.85 < ci.high and ci.level == 0.95
    assert raw_agreement(Confusion()) is None


def test_confusion_counts_pass_as_positive() -> None:
    c = Confusion()
    c = c.add(judge=True, human=True).add(judge=True, human=False)
    c = c.add(judge=False, human=True).add(judge=False, human=False).add(judge=True, human=False)
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 2, 1, 1)
    assert c.matrix() == [[1, 2], [1, 1]]
