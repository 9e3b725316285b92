"""Distribution metrics on feature vectors (one row per image): how close generated images are
to real ones, how varied they are, and how often the classifier agrees with the motif asked for.

Pure numpy, no Django and no torch: the features come from wherever the caller embeds images
(``ClassifierEngine.embed`` in Cualify). Every function checks its input up front and raises
ValueError with a message that names the argument.

Which figure to trust with how many images:

* the **Fréchet distance** fits one Gaussian to each set; its estimate is biased upwards by an
  amount that shrinks with the set sizes, so compare values computed with equal sizes only;
* the **kernel distance** (KID) is an unbiased estimate of the squared maximum mean
  discrepancy: its expected value does not depend on the set sizes, so it stays meaningful per
  motif with a dozen images (it is noisier, not biased).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "agreement",
    "closest_pair_distance",
    "frechet_distance",
    "kernel_inception_distance",
    "mean_pairwise_distance",
    "pairs_closer_than",
]

DEFAULT_KID_SUBSETS = 100
DEFAULT_KID_SUBSET_SIZE = 1000


def _features(values, name: str, *, min_rows: int = 2) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [images, features], got shape {array.shape}")
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns (shape {array.shape})")
    if array.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (images), got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _features(a, "features_a"), _features(b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b must have the same number of columns, "
                         f"got {a.shape[1]} and {b.shape[1]}")
    return a, b


def _trace_sqrt_product(centred_a: np.ndarray, centred_b: np.ndarray) -> float:
    """tr √(Σ_a Σ_b) for the sample covariances of two centred sets, without a matrix square root.

    With Σ_a = AᵀA / (n_a − 1) and Σ_b = BᵀB / (n_b − 1), the non-zero eigenvalues of Σ_a Σ_b are
    those of (A Bᵀ)(A Bᵀ)ᵀ / ((n_a − 1)(n_b − 1)), so the trace of the square root is the sum of
    the singular values of A Bᵀ (its nuclear norm) over √((n_a − 1)(n_b − 1)). That matrix is
    n_a × n_b: small whenever there are fewer images than feature columns (the usual case
    here), and exact even though both covariances are then singular. With more images than
    columns the d × d form is cheaper: the eigenvalues of the symmetric √Σ_a Σ_b √Σ_a are the
    same ones, so ``eigh`` suffices and no complex square root ever appears.
    """
    n_a, n_b, dim = len(centred_a), len(centred_b), centred_a.shape[1]
    scale = (n_a - 1) * (n_b - 1)
    if min(n_a, n_b) <= dim:
        singular = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False)
        return float(singular.sum() / np.sqrt(scale))
    cov_a = centred_a.T @ centred_a / (n_a - 1)
    cov_b = centred_b.T @ centred_b / (n_b - 1)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    eigen = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigen, 0.0, None)).sum())


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature rows (FID's formula):

        FD = ‖μ_a − μ_b‖² + tr(Σ_a) + tr(Σ_b) − 2 tr √(Σ_a Σ_b)

    with μ the column means and Σ the unbiased sample covariances (divided by n − 1). Zero for
    two sets with the same mean and covariance; for one set shifted by a vector v it is ‖v‖².
    Both sets need at least 2 rows and the same number of columns. Biased upwards for small
    sets: compare values computed from equal set sizes only (see the module docstring).
    """
    a, b = _pair(features_a, features_b)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    centred_a, centred_b = a - mean_a, b - mean_b
    trace_a = float((centred_a**2).sum() / (len(a) - 1))
    trace_b = float((centred_b**2).sum() / (len(b) - 1))
    distance = float(((mean_a - mean_b) ** 2).sum()) + trace_a + trace_b - 2 * _trace_sqrt_product(centred_a, centred_b)
    # The true value is never negative; rounding can leave -1e-15 for identical sets.
    return max(distance, 0.0)


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kernel_inception_distance(
    features_a,
    features_b,
    *,
    subsets: int = DEFAULT_KID_SUBSETS,              # random subset pairs averaged
    subset_size: int = DEFAULT_KID_SUBSET_SIZE,      # rows per subset, capped at the smaller set
    seed: int = 0,                                   # the subsets' random generator
) -> float:
    """Kernel Inception Distance: the unbiased estimate of the squared maximum mean discrepancy
    (MMD²) with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, d the number of columns:

        MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (n(n−1)) − 2 Σ_{i,j} k(x_i, y_j) / (mn)

    averaged over ``subsets`` pairs of random subsets (drawn without replacement) of
    s = min(subset_size, n_a, n_b) rows from each set. Its expectation is 0 when both sets
    come from one distribution whatever s is, so it works for sets as small as 2 rows (noisy,
    and slightly negative values are then possible and honest). The kernel's 1/d assumes
    coordinates of order 1; unit-length features make x·y/d tiny (scale them by √d first).
    """
    a, b = _pair(features_a, features_b)
    if isinstance(subsets, bool) or not isinstance(subsets, (int, np.integer)) or subsets < 1:
        raise ValueError(f"subsets must be a whole number ≥ 1, got {subsets!r}")
    if isinstance(subset_size, bool) or not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
        raise ValueError(f"subset_size must be a whole number ≥ 2, got {subset_size!r}")
    size = min(int(subset_size), len(a), len(b))
    if size == len(a) == len(b):  # every subset would be the whole of both sets
        return _unbiased_mmd2(a, b)
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        total += _unbiased_mmd2(x, y)
    return total / subsets


def mean_pairwise_distance(features) -> float:
    """Diversity: the mean cosine distance 1 − x·y / (‖x‖‖y‖) over all pairs i < j of rows.

    Cosine rather than L2 because the classifier's embeddings are compared by angle everywhere
    else in Cualify ("not a known motif" uses the cosine distance) and the angle ignores the
    feature norm, which follows contrast and brightness more than content; for unit vectors
    the two are equivalent anyway (‖x − y‖² = 2(1 − cos)). 0 when all rows point the same way,
    1 for orthogonal rows, at most 2. Needs at least 2 rows, none of them all zeros.
    """
    x = _features(features, "features")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise ValueError(f"features has all-zero rows (no direction): {np.flatnonzero(norms == 0).tolist()[:5]}")
    unit = x / norms[:, None]
    cosine = unit @ unit.T
    n = len(x)
    mean_cosine = (cosine.sum() - np.trace(cosine)) / (n * (n - 1))
    return float(max(1.0 - mean_cosine, 0.0))


def _pairwise_cosine_distances(features, name: str) -> np.ndarray:
    """The cosine distances of all pairs i < j of rows (the upper triangle, flattened)."""
    x = _features(features, name)
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise ValueError(f"{name} has all-zero rows (no direction): {np.flatnonzero(norms == 0).tolist()[:5]}")
    unit = x / norms[:, None]
    return 1.0 - (unit @ unit.T)[np.triu_indices(len(x), k=1)]


def closest_pair_distance(features) -> float:
    """The smallest cosine distance between two rows: how alike the two most alike images of a
    set are. For the archive it is the yardstick of a near-duplicate (see pairs_closer_than)."""
    return float(max(_pairwise_cosine_distances(features, "features").min(), 0.0))


def pairs_closer_than(features, threshold: float) -> int:
    """Near-duplicates: how many pairs i < j of rows lie closer (cosine distance) than
    ``threshold``. With the closest pair of the archive's own images of a motif as threshold,
    a generator that repeats itself scores above 0 while the archive itself scores 0."""
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    return int((_pairwise_cosine_distances(features, "features") < threshold).sum())


def agreement(predicted_slugs: Sequence[str | None], wanted_slugs: Sequence[str]) -> float:
    """Share of samples whose predicted motif equals the motif they were generated for:

        agreement = |{i : predicted_i = wanted_i}| / n

    A prediction of ``None`` (a class that names no motif) counts as a miss. Both sequences
    must have the same, non-zero length.
    """
    predicted, wanted = list(predicted_slugs), list(wanted_slugs)
    if len(predicted) != len(wanted):
        raise ValueError(f"predicted_slugs and wanted_slugs must have the same length, got {len(predicted)} and {len(wanted)}")
    if not wanted:
        raise ValueError("agreement needs at least one sample")
    if any(not isinstance(slug, str) or not slug for slug in wanted):
        raise ValueError("every wanted slug must be a non-empty string")
    return sum(p == w for p, w in zip(predicted, wanted)) / len(wanted)
