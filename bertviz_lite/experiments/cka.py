"""Linear centered kernel alignment (CKA) between two sets of representations.

Kornblith, Norouzi, Lee & Hinton (2019), "Similarity of Neural Network Representations
Revisited", eq. (2)-(5): for features X (n, p) and Y (n, q) of the same n inputs, centred per
column,

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F * ||Y^T Y||_F)

1 when the two representations are the same up to an orthogonal rotation and an isotropic
scaling, near 0 when unrelated. Computed in float64, in closed form (no iteration).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def centre(x: np.ndarray) -> np.ndarray:
    """(n, p) features -> the same in float64 with every column's mean removed."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"CKA needs a 2-D (examples, features) array; got shape {x.shape}")
    return x - x.mean(axis=0, keepdims=True)


def _self_norm(xc: np.ndarray) -> float:
    """||X^T X||_F of centred features (via the smaller of the two Gram matrices)."""
    gram = xc.T @ xc if xc.shape[1] <= xc.shape[0] else xc @ xc.T
    return float(np.linalg.norm(gram))


def _cross(xc: np.ndarray, yc: np.ndarray) -> float:
    """||Y^T X||_F^2 of centred features, computed as Gram products when n is small."""
    n, p, q = xc.shape[0], xc.shape[1], yc.shape[1]
    if n * (p + q) < p * q:  # tr(K L) with n x n Grams is cheaper
        return float(np.sum((xc @ xc.T) * (yc @ yc.T)))
    return float(np.linalg.norm(yc.T @ xc) ** 2)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of X (n, p) and Y (n, q): rows are the same n inputs in both.

    Returns a value in [0, 1]; 0.0 when either representation is constant over the inputs.
    """
    if len(x) != len(y):
        raise ValueError(f"CKA compares the same inputs: got {len(x)} and {len(y)} rows")
    xc, yc = centre(x), centre(y)
    den = _self_norm(xc) * _self_norm(yc)
    return 0.0 if den == 0 else _cross(xc, yc) / den


def cka_matrix(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> np.ndarray:
    """CKA of every layer of one model against every layer of another.

    xs: per layer (n, p_i) features of model A; ys: per layer (n, q_j) of model B, same inputs.
    Returns (len(xs), len(ys)) float64: entry [i, j] = CKA(xs[i], ys[j]).
    """
    xc = [centre(x) for x in xs]
    yc = [centre(y) for y in ys]
    xn = [_self_norm(x) for x in xc]
    yn = [_self_norm(y) for y in yc]
    out = np.zeros((len(xs), len(ys)), dtype=np.float64)
    for i, (a, na) in enumerate(zip(xc, xn)):
        for j, (b, nb) in enumerate(zip(yc, yn)):
            if xs[i].shape == ys[j].shape and np.array_equal(xs[i], ys[j]):
                out[i, j] = 1.0
            elif na * nb > 0:
                out[i, j] = _cross(a, b) / (na * nb)
    return out
