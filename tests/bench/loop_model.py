"""The simulated world of the closed-loop benchmark (tests/bench/loop.py):
true qualities, the annotator, and the scoring model's refit.

Knows nothing of PostgreSQL, pairpick or policies: images are indices
0..n-1, pairs are two index arrays.

  annotate(seed, lapse, s, a, b)
      The annotator's answers for pairs (a[k], b[k]): +1 when a[k] wins.
      Thurstone: P(a beats b) = Phi((s_a - s_b) / (sqrt(2) * NOISE)). The
      noise is drawn per unordered pair from a hash of (seed, lo, hi), not
      from a stream, so every policy that shows the same pair gets the same
      answer whatever else it shows and in whatever order. A lapse (with
      probability `lapse`) replaces the answer by a fair coin, also drawn per
      unordered pair.

  Refit(mu0, var0).fit(a, b, y, start)
      The Thurstone (probit) MAP of all outcomes so far plus the Gaussian
      prior N(mu0, var0), by Newton's method with a backtracking line search,
      and the Laplace variances at the MAP (see `variances`).

  variances: 'gabp' (the default) is Gaussian belief propagation on the
  sparse Hessian: exact on a tree; on the comparison graph, whose cycles are
  long, it misses only the walks around cycles, so it lies between 1/H_ii and
  the exact value, O(comparisons) per sweep. 'exact' is the diagonal of the
  inverse Hessian by dense Cholesky (O(n^3): seconds at n = 2,000). 'diag'
  is 1/H_ii. accuracy() measures 'gabp' and 'diag' against 'exact'. The
  Newton steps solve the sparse Hessian by conjugate gradients whatever the
  variance method.
"""
import math

import numpy as np
from scipy import linalg, sparse, special

NOISE = 0.3                        # the annotator's per-image noise, score units
SCALE = math.sqrt(2.0) * NOISE     # P(a beats b) = Phi((s_a - s_b) / SCALE)
_U64 = np.uint64


def _mix(x):
    """splitmix64's finalizer over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over='ignore'):
        x = x + _U64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
        return x ^ (x >> _U64(31))


def _uniform(seed, lo, hi, stream):
    """A uniform [0, 1) per (seed, unordered pair, stream)."""
    key = (_U64(seed) << _U64(44)) ^ (lo.astype(np.uint64) << _U64(22)) ^ hi.astype(np.uint64)
    with np.errstate(over='ignore'):
        x = _mix(_mix(key) ^ _U64(0xD1B54A32D192ED03 * (stream + 1) & 0xFFFFFFFFFFFFFFFF))
    return (x >> _U64(11)).astype(np.float64) * 2.0 ** -53


def annotate(seed, lapse, s, a, b):
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size and max(a.max(), b.max()) >= 1 << 22:
        raise ValueError('image index over 2^22: the pair hash would collide')
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    lo_wins = _uniform(seed, lo, hi, 0) < special.ndtr((s[lo] - s[hi]) / SCALE)
    if lapse > 0:
        lapsed = _uniform(seed, lo, hi, 1) < lapse
        lo_wins = np.where(lapsed, _uniform(seed, lo, hi, 2) < 0.5, lo_wins)
    a_wins = np.where(a == lo, lo_wins, ~lo_wins)
    return np.where(a_wins, 1, -1).astype(np.int8)


def _pcg(matrix, rhs, inv_diag, tol=1e-12, max_iter=2000):
    """Conjugate gradients with a Jacobi preconditioner for an SPD matrix."""
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = inv_diag * r
    p = z.copy()
    rz = r @ z
    stop = tol * max(np.linalg.norm(rhs), 1e-300)
    for _ in range(max_iter):
        hp = matrix @ p
        alpha = rz / (p @ hp)
        x += alpha * p
        r -= alpha * hp
        if np.linalg.norm(r) <= stop:
            break
        z = inv_diag * r
        rz_next = r @ z
        p = z + (rz_next / rz) * p
        rz = rz_next
    return x


def gabp_variances(diag, i, j, w, tol=1e-12, max_iter=1000):
    """Marginal variances of N(., H^-1), H = diag(diag) - sum_k w_k (e_i e_j' + e_j e_i')
    with w > 0 and H diagonally dominant, by Gaussian belief propagation."""
    n = diag.size
    m = i.size
    if m == 0:
        return 1.0 / diag
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    w2 = np.concatenate([w, w]) ** 2
    rev = np.concatenate([np.arange(m, 2 * m), np.arange(m)])
    msg = np.zeros(2 * m)
    for _ in range(max_iter):
        total = diag + np.bincount(dst, msg, n)
        nxt = -w2 / (total[src] - msg[rev])
        done = np.max(np.abs(nxt - msg)) <= tol * np.max(diag)
        msg = nxt
        if done:
            break
    return 1.0 / (diag + np.bincount(dst, msg, n))


class Refit:
    """MAP and Laplace variances of the Thurstone model with a fixed prior."""

    def __init__(self, mu0, var0, variances='gabp'):
        self.mu0 = np.asarray(mu0, dtype=np.float64)
        self.prec0 = 1.0 / np.asarray(var0, dtype=np.float64)
        self.variances = variances
        self.newton_steps = 0

    def grow(self, mu0, var0):
        """New images, appended with their prior."""
        self.mu0 = np.concatenate([self.mu0, mu0])
        self.prec0 = np.concatenate([self.prec0, 1.0 / np.asarray(var0, dtype=np.float64)])

    def _objective(self, mu, win, lose):
        d = mu - self.mu0
        return 0.5 * np.sum(self.prec0 * d * d) - np.sum(special.log_ndtr((mu[win] - mu[lose]) / SCALE))

    def _terms(self, mu, win, lose):
        """Gradient of the negative log posterior, the Hessian's diagonal and
        each comparison's curvature weight."""
        n = mu.size
        z = (mu[win] - mu[lose]) / SCALE
        r = np.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - special.log_ndtr(z))  # phi/Phi
        slope = r / SCALE
        grad = self.prec0 * (mu - self.mu0) - np.bincount(win, slope, n) + np.bincount(lose, slope, n)
        weight = r * (z + r) / SCALE ** 2
        diag = self.prec0 + np.bincount(win, weight, n) + np.bincount(lose, weight, n)
        return grad, diag, weight

    def _hessian(self, diag, win, lose, weight):
        n = diag.size
        rows = np.concatenate([win, lose, np.arange(n)])
        cols = np.concatenate([lose, win, np.arange(n)])
        vals = np.concatenate([-weight, -weight, diag])
        return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))

    def fit(self, a, b, y, start=None, variances=None):
        """(mu, var) after the outcomes y (+1: a won) of pairs (a, b)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        y = np.asarray(y)
        win = np.where(y > 0, a, b)
        lose = np.where(y > 0, b, a)
        n = self.mu0.size
        mu = self.mu0.copy() if start is None else np.asarray(start, dtype=np.float64).copy()
        method = variances or self.variances
        for _ in range(100):
            grad, diag, weight = self._terms(mu, win, lose)
            hess = self._hessian(diag, win, lose, weight)
            step = _pcg(hess, grad, 1.0 / diag)
            f0 = self._objective(mu, win, lose)
            slope = grad @ step
            t = 1.0
            while t > 1e-10 and self._objective(mu - t * step, win, lose) > f0 - 1e-4 * t * slope:
                t *= 0.5
            mu = mu - t * step
            self.newton_steps += 1
            if np.max(np.abs(t * step)) < 1e-9:
                break
        _, diag, weight = self._terms(mu, win, lose)
        if method == 'exact':
            factor, _ = linalg.lapack.dpotrf(self._hessian(diag, win, lose, weight).toarray(), lower=1)
            inverse, info = linalg.lapack.dpotri(factor, lower=1)
            if info != 0:
                raise RuntimeError('dpotri failed: %d' % info)
            var = np.diag(inverse).copy()
        elif method == 'gabp':
            # One edge per unordered pair (pairs repeat only if a caller repeats them).
            upper = sparse.coo_matrix((weight, (np.minimum(win, lose), np.maximum(win, lose))),
                                      shape=(n, n)).tocsr().tocoo()
            var = gabp_variances(diag, upper.row.astype(np.int64), upper.col.astype(np.int64), upper.data)
        elif method == 'diag':
            var = 1.0 / diag
        else:
            raise ValueError('unknown variance method %r' % method)
        return mu, var


def spearman(x, y):
    """Spearman's rho of two samples without ties (continuous values)."""
    if len(x) < 2:
        return float('nan')
    rx = np.empty(len(x))
    ry = np.empty(len(y))
    rx[np.argsort(x, kind='stable')] = np.arange(len(x))
    ry[np.argsort(y, kind='stable')] = np.arange(len(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def accuracy(n=2000, comparisons_per_image=5.0, seed=1):
    """'gabp' and 'diag' variances against 'exact' on n images (sd 0.5) after
    random pairs: the median and largest relative error of each."""
    rng = np.random.default_rng([seed, n, 99])
    s = rng.normal(size=n)
    var0 = np.full(n, 0.25)
    mu0 = s + 0.5 * rng.normal(size=n)
    m = int(comparisons_per_image * n / 2)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = annotate(seed, 0.0, s, a, b)
    refit = Refit(mu0, var0)
    mu, exact = refit.fit(a, b, y, variances='exact')
    out = {'n': n, 'comparisons_per_image': comparisons_per_image}
    for method in ('gabp', 'diag'):
        mu_m, var = refit.fit(a, b, y, variances=method)
        rel = np.abs(var / exact - 1.0)
        out[method] = {'median_rel_error': float(np.median(rel)), 'max_rel_error': float(rel.max()),
                       'mean_ratio': float(np.mean(var / exact)),
                       'max_mu_diff': float(np.max(np.abs(mu_m - mu)))}
    return out
