"""Fréchet distance, KID, diversity, near-duplicates and agreement on feature vectors with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from inference.engines import metrics
from inference.engines.metrics import (
    agreement,
    frechet_distance,
    kernel_inception_distance,
    mean_pairwise_distance,
)

pytestmark = pytest.mark.nodb


def gaussian(n, dim=8, *, seed=0, mean=0.0, std=1.0):
    return np.random.default_rng(seed).normal(mean, std, size=(n, dim))


@pytest.mark.parametrize("n,dim", [(40, 8), (20, 64)])  # more rows than columns, and fewer (singular Σ)
def test_identical_sets_are_at_frechet_distance_zero(n, dim):
    features = gaussian(n, dim)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("n,dim", [(200, 8), (30, 64)])
def test_a_shifted_set_is_at_the_squared_length_of_the_shift(n, dim):
    features = gaussian(n, dim, seed=1)
    shift = np.random.default_rng(2).normal(size=dim)
    # Same covariance, so the trace terms cancel and FD = ‖μ_a − μ_b‖² exactly.
    assert frechet_distance(features, features + shift) == pytest.approx(float(shift @ shift), rel=1e-8)


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    a = gaussian(20000, 4, seed=3, std=1.0)
    b = gaussian(20000, 4, seed=4, mean=0.5, std=2.0)
    # For diagonal covariances: Σ (μ_a − μ_b)² + Σ (σ_a − σ_b)² = 4·0.25 + 4·1.
    assert frechet_distance(a, b) == pytest.approx(5.0, rel=0.03)


def test_the_small_and_the_large_set_formulas_agree():
    a, b = gaussian(12, 10, seed=5), gaussian(9, 10, seed=6, mean=0.3, std=1.5)
    wide = frechet_distance(a, b)  # fewer rows than columns: the n × m nuclear-norm form
    tall = frechet_distance(np.repeat(a, 2, axis=0), np.repeat(b, 2, axis=0))  # the d × d eigen form
    # Repeating every row keeps the means and scales each covariance by 2(n − 1)/(2n − 1).
    scale_a, scale_b = 22 / 23, 16 / 17
    mean_term = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected_tall = mean_term + _trace_terms(cov_a * scale_a, cov_b * scale_b)
    assert wide == pytest.approx(mean_term + _trace_terms(cov_a, cov_b), rel=1e-6)
    assert tall == pytest.approx(expected_tall, rel=1e-6)


def _trace_terms(cov_a, cov_b):
    """tr Σ_a + tr Σ_b − 2 tr √(Σ_a Σ_b) via scipy's general matrix square root, where scipy is installed."""
    linalg = pytest.importorskip("scipy.linalg")
    root = linalg.sqrtm(cov_a @ cov_b)
    return float(np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root).real)


def test_kid_is_near_zero_for_identical_and_same_distribution_sets():
    a = gaussian(400, 16, seed=7)
    same = gaussian(400, 16, seed=8)
    far = kernel_inception_distance(a, a + 1.0)
    # Not exactly 0 for one set twice: the cross term then pairs each row with itself, which
    # two independent samples never do; the difference is O(1/n).
    assert abs(kernel_inception_distance(a, a)) < 0.01 * far
    assert abs(kernel_inception_distance(a, same, subset_size=50, subsets=20)) < 0.02 * far


def test_kid_grows_with_the_shift():
    a = gaussian(60, 16, seed=9)
    b = gaussian(60, 16, seed=10)
    values = [kernel_inception_distance(a, b + shift, subset_size=30, subsets=10) for shift in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 10 * abs(values[0])


def test_kid_works_with_two_rows_and_is_reproducible_by_seed():
    a, b = gaussian(2, 4, seed=11), gaussian(5, 4, seed=12, mean=3.0)
    assert np.isfinite(kernel_inception_distance(a, b))
    c, d = gaussian(30, 4, seed=13), gaussian(30, 4, seed=14)
    first = kernel_inception_distance(c, d, subset_size=10, subsets=5, seed=1)
    assert first == kernel_inception_distance(c, d, subset_size=10, subsets=5, seed=1)
    assert first != kernel_inception_distance(c, d, subset_size=10, subsets=5, seed=2)


def test_identical_vectors_have_no_diversity_and_orthogonal_ones_have_one():
    assert mean_pairwise_distance(np.tile([0.3, -1.0, 2.0], (5, 1))) == pytest.approx(0.0, abs=1e-12)
    assert mean_pairwise_distance(np.eye(4)) == pytest.approx(1.0)
    # Cosine: the length of a vector does not count, only its direction.
    assert mean_pairwise_distance([[1.0, 0.0], [5.0, 0.0], [0.0, 2.0]]) == pytest.approx(2 / 3)


def test_agreement_is_the_share_of_matching_slugs_and_none_is_a_miss():
    assert agreement(["merak", "kepiting", None, "merak"], ["merak", "merak", "merak", "merak"]) == 0.5
    assert agreement(("a",), ("a",)) == 1.0


@pytest.mark.parametrize("call,message", [
    (lambda: frechet_distance(np.zeros(5), np.zeros((5, 1))), "features_a must be a 2-D array"),
    (lambda: frechet_distance(np.zeros((1, 3)), np.zeros((5, 3))), "features_a needs at least 2 rows"),
    (lambda: frechet_distance(np.zeros((4, 3)), np.zeros((4, 2))), "same number of columns"),
    (lambda: frechet_distance(np.zeros((4, 3)), np.full((4, 3), np.nan)), "NaN or infinite"),
    (lambda: kernel_inception_distance(np.zeros((4, 3)), np.zeros((1, 3))), "features_b needs at least 2 rows"),
    (lambda: kernel_inception_distance(np.zeros((4, 3)), np.zeros((4, 3)), subsets=0), "subsets"),
    (lambda: kernel_inception_distance(np.zeros((4, 3)), np.zeros((4, 3)), subset_size=1), "subset_size"),
    (lambda: mean_pairwise_distance(np.ones((1, 3))), "at least 2 rows"),
    (lambda: mean_pairwise_distance([[1.0, 0.0], [0.0, 0.0]]), "all-zero rows"),
    (lambda: agreement(["a"], ["a", "b"]), "same length"),
    (lambda: agreement([], []), "at least one sample"),
])
def test_bad_input_is_a_value_error_that_says_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_closest_pair_and_the_pairs_closer_than_a_threshold():
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]])
    closest = metrics.closest_pair_distance(rows)
    assert closest == pytest.approx(1 - 1 / np.sqrt(1.01))  # rows 0 and 2
    assert metrics.pairs_closer_than(rows, closest) == 0  # strictly closer: the archive has none
    assert metrics.pairs_closer_than(rows, closest + 1e-9) == 1
    assert metrics.pairs_closer_than(rows, 1.5) == 4  # not rows 0 and 3 (distance 2), nor 2 and 3 (1.995)
    with pytest.raises(ValueError, match="threshold must be finite"):
        metrics.pairs_closer_than(rows, float("nan"))
    with pytest.raises(ValueError, match="at least 2 rows"):
        metrics.closest_pair_distance(rows[:1])
