"""Diagonal-covariance GMMs, one mixture per pdf, trained by Viterbi re-estimation (numpy).

:class:`DiagGmm` keeps every Gaussian of every pdf in flat arrays (``means``, ``vars``
``[M, D]``, ``log_weights [M]``, ``pdf [M]`` sorted by pdf), so the log-likelihoods of all
pdfs for a whole utterance are two matrix products (:meth:`DiagGmm.loglikes`).

Training (Kaldi's train_mono.sh, in outline): Gaussians are estimated from an equal
alignment (each HMM state of the transcript, with silence at both ends, gets an equal share
of the frames: the flat start); then every iteration aligns the data with the current
model (Viterbi over the transcript's graph), re-estimates means, variances, weights (one EM
step on the aligned frames) and transition probabilities, and splits Gaussians towards the
target number (``mix_up``: the heaviest Gaussian of a pdf becomes two, means moved by
+-0.2 standard deviations), pdfs getting Gaussians in proportion to their frame count to
the power 0.2.
"""

from __future__ import annotations

import os

import numpy as np

from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write

LOG_2PI = float(np.log(2 * np.pi))
VAR_FLOOR = 0.01  # variance floor, as a fraction of the global variance of the data
MIN_COUNT = 3.0  # a Gaussian with fewer frames than this keeps its previous parameters


class DiagGmm:
    """The Gaussians of all pdfs; see the module docstring."""

    def __init__(self, means, vars_, log_weights, pdf, num_pdfs: int):
        order = np.argsort(pdf, kind="stable")
        self.means = np.asarray(means, dtype=np.float64)[order]
        self.vars = np.asarray(vars_, dtype=np.float64)[order]
        self.log_weights = np.asarray(log_weights, dtype=np.float64)[order]
        self.pdf = np.asarray(pdf, dtype=np.int64)[order]
        self.num_pdfs = int(num_pdfs)
        counts = np.bincount(self.pdf, minlength=self.num_pdfs)
        if (counts == 0).any():
            raise SpeechseqError(f"internal: pdf {int(np.argmin(counts))} has no Gaussian")
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._prepare()

    def _prepare(self) -> None:
        inv = 1.0 / self.vars
        self._inv = inv
        self._mu_inv = self.means * inv
        self._const = self.log_weights - 0.5 * (
            self.means.shape[1] * LOG_2PI
            + np.log(self.vars).sum(axis=1)
            + (self.means**2 * inv).sum(axis=1)
        )

    @property
    def num_gauss(self) -> int:
        return len(self.pdf)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def component_loglikes(self, x: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """``x [T, D]`` -> log(w_m N(x_t; mu_m, var_m)) ``[T, M]`` (only Gaussians ``cols`` if given)."""
        x = np.asarray(x, dtype=np.float64)
        if cols is None:
            return self._const + x @ self._mu_inv.T - 0.5 * (x**2) @ self._inv.T
        return self._const[cols] + x @ self._mu_inv[cols].T - 0.5 * (x**2) @ self._inv[cols].T

    def gaussians_of(self, pdfs) -> np.ndarray:
        """Indices of the Gaussians of ``pdfs`` (sorted, as the Gaussians are)."""
        return np.flatnonzero(np.isin(self.pdf, np.asarray(pdfs)))

    def loglikes(self, x: np.ndarray, pdfs=None) -> np.ndarray:
        """``x [T, D]`` -> log p(x_t | pdf) ``[T, P]`` (natural log). With ``pdfs``, only those
        columns are computed and the others are 0 — for a search over a graph (a transcript's)
        that never reads them: with a few hundred tied states, most are not in one transcript."""
        if pdfs is None:
            comp, pdf, starts = self.component_loglikes(x), self.pdf, self._starts
        else:
            cols = self.gaussians_of(pdfs)
            comp, pdf = self.component_loglikes(x, cols), self.pdf[cols]
            starts = np.flatnonzero(np.r_[True, pdf[1:] != pdf[:-1]])
        top = np.maximum.reduceat(comp, starts, axis=1)
        rep = np.repeat(top, np.diff(np.r_[starts, len(pdf)]), axis=1)
        ll = top + np.log(np.add.reduceat(np.exp(comp - rep), starts, axis=1))
        if pdfs is None:
            return ll
        out = np.zeros((len(ll), self.num_pdfs))
        out[:, pdf[starts]] = ll
        return out

    @classmethod
    def single(cls, means: np.ndarray, vars_: np.ndarray) -> DiagGmm:
        """One Gaussian per pdf (``means``, ``vars`` ``[P, D]``)."""
        p = len(means)
        return cls(means, vars_, np.zeros(p), np.arange(p), p)

    def save(self, path: str | os.PathLike) -> None:
        with atomic_write(path, "wb") as f:
            np.savez(
                f,
                means=self.means,
                vars=self.vars,
                log_weights=self.log_weights,
                pdf=self.pdf,
                num_pdfs=self.num_pdfs,
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> DiagGmm:
        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise SpeechseqError(f"{path}: cannot read the GMM ({e}) — retrain it") from None
        return cls(z["means"], z["vars"], z["log_weights"], z["pdf"], int(z["num_pdfs"]))


class GmmStats:
    """Zeroth, first and second order statistics per Gaussian, for one EM step."""

    def __init__(self, gmm: DiagGmm):
        self.gmm = gmm
        m, d = gmm.means.shape
        self.occ = np.zeros(m)
        self.x = np.zeros((m, d))
        self.x2 = np.zeros((m, d))
        self.loglike = 0.0  # sum over frames of log p(x_t | its pdf) under ``gmm``
        self.frames = 0

    def add(self, x: np.ndarray, pdfs: np.ndarray) -> None:
        """Frames ``x [T, D]`` aligned to ``pdfs [T]``."""
        x = np.asarray(x, dtype=np.float64)
        pdfs = np.asarray(pdfs)
        cols = self.gmm.gaussians_of(np.unique(pdfs))  # the Gaussians of the aligned pdfs only
        comp = self.gmm.component_loglikes(x, cols)
        own = self.gmm.pdf[cols][None, :] == pdfs[:, None]  # [T, M']: Gaussians of each frame's pdf
        comp = np.where(own, comp, -np.inf)
        top = comp.max(axis=1, keepdims=True)
        post = np.exp(comp - top)
        total = post.sum(axis=1, keepdims=True)
        self.loglike += float((top[:, 0] + np.log(total[:, 0])).sum())
        self.frames += len(x)
        post /= total
        self.occ[cols] += post.sum(axis=0)
        self.x[cols] += post.T @ x
        self.x2[cols] += post.T @ (x**2)

    def estimate(self, var_floor: np.ndarray) -> DiagGmm:
        """The maximum-likelihood update (Gaussians with too few frames keep their values)."""
        g = self.gmm
        ok = self.occ >= MIN_COUNT
        occ = np.maximum(self.occ, 1e-10)[:, None]
        means = np.where(ok[:, None], self.x / occ, g.means)
        vars_ = np.where(ok[:, None], self.x2 / occ - means**2, g.vars)
        vars_ = np.maximum(vars_, var_floor)
        pdf_occ = np.bincount(g.pdf, weights=self.occ, minlength=g.num_pdfs)
        w = np.where(
            pdf_occ[g.pdf] > 0, np.maximum(self.occ, 1e-3) / np.maximum(pdf_occ[g.pdf], 1e-10), 0
        )
        w = np.where(pdf_occ[g.pdf] > 0, w, np.exp(g.log_weights))
        wsum = np.bincount(g.pdf, weights=w, minlength=g.num_pdfs)[g.pdf]
        return DiagGmm(means, vars_, np.log(w / wsum), g.pdf, g.num_pdfs)


def mix_up(gmm: DiagGmm, target: int, pdf_occ: np.ndarray, power: float = 0.2) -> DiagGmm:
    """Split Gaussians until about ``target`` in all, pdfs sharing in ``occ ** power``."""
    have = np.bincount(gmm.pdf, minlength=gmm.num_pdfs)
    if target <= gmm.num_gauss:
        return gmm
    share = np.maximum(pdf_occ, 0) ** power
    want = np.maximum(have, np.floor(target * share / max(share.sum(), 1e-10)).astype(int))
    means, vars_, lw, pdf = (list(a) for a in (gmm.means, gmm.vars, gmm.log_weights, gmm.pdf))
    for p in range(gmm.num_pdfs):
        for _ in range(int(want[p] - have[p])):
            idx = [k for k in range(len(pdf)) if pdf[k] == p]
            k = max(idx, key=lambda j: lw[j])
            step = 0.2 * np.sqrt(vars_[k])
            half = lw[k] - np.log(2.0)
            means.append(means[k] + step)
            vars_.append(vars_[k].copy())
            lw.append(half)
            pdf.append(p)
            means[k] = means[k] - step
            lw[k] = half
    return DiagGmm(np.array(means), np.array(vars_), np.array(lw), np.array(pdf), gmm.num_pdfs)


def equal_alignment(pdf_seq: list[int], num_frames: int) -> np.ndarray | None:
    """Each state of ``pdf_seq`` gets an equal share of ``num_frames`` (None if too few frames)."""
    n = len(pdf_seq)
    if num_frames < n or n == 0:
        return None
    bounds = (np.arange(num_frames) * n) // num_frames
    return np.asarray(pdf_seq, dtype=np.int64)[bounds]
