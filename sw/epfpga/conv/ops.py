"""Convolution, max-pooling and their adjoints on channels-last batches, as BLAS
matrix products (im2col through a strided view, no Python loop over pixels).

Shared by the float model and the golden model: the golden model calls them on float64
arrays that hold integers below 2**53, where every product and sum is exact, so BLAS
gives the same integers as any order of exact summation.

Layouts: feature maps ``(B, H, W, C)``; conv weights ``(C_out, C_in, k, k)`` as
PyTorch; their matrix form ``(k*k*C_in, C_out)`` with patch rows in (ky, kx, c_in)
order.  Max-pooling is non-overlapping ``q x q`` (stride q, a trailing row/column that
fills no window is dropped); **tie rule**: the first maximum in the window's row-major
order (dy, then dx) wins, in float and in integers alike (``np.argmax`` returns the
first maximal index).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def weight_matrix(K: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """(C_out, C_in, k, k) -> (k*k*C_in, C_out), contiguous."""
    co, ci, kh, kw = K.shape
    m = np.ascontiguousarray(K.transpose(2, 3, 1, 0).reshape(kh * kw * ci, co))
    return m if dtype is None else m.astype(dtype, copy=False)


def kernel_from_matrix(m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``weight_matrix``."""
    co, ci, kh, kw = shape
    return np.ascontiguousarray(m.reshape(kh, kw, ci, co).transpose(3, 2, 0, 1))


def conv_out_size(n: int, k: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - k) // stride + 1


def _pad(u: np.ndarray, pad: int) -> np.ndarray:
    if not pad:
        return u
    return np.pad(u, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def im2col(u: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """(B, H, W, C) -> (B*Ho*Wo, k*k*C): every output pixel's receptive field as a row."""
    u = np.ascontiguousarray(_pad(u, pad))
    B, H, W, C = u.shape
    ho, wo = (H - k) // stride + 1, (W - k) // stride + 1
    sb, sh, sw, sc = u.strides
    view = as_strided(u, (B, ho, wo, k, k, C), (sb, sh * stride, sw * stride, sh, sw, sc),
                      writeable=False)
    return view.reshape(B * ho * wo, k * k * C)


def _offsets(q: int) -> list[tuple[int, int]]:
    """A pooling window's positions in row-major order: the tie rule's order."""
    return [(dy, dx) for dy in range(q) for dx in range(q)]


def maxpool(z: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Non-overlapping q x q max-pooling of (B, H, W, C): values (B, H//q, W//q, C) and
    the winner's index dy*q + dx in its window (first maximum on ties).  Works on the
    q*q strided sub-maps (elementwise maxima and compares, no window copy)."""
    if q == 1:
        return z, None
    hp, wp = z.shape[1] // q, z.shape[2] // q
    subs = [z[:, dy:hp * q:q, dx:wp * q:q, :] for dy, dx in _offsets(q)]
    val = subs[0].copy()
    for sub in subs[1:]:
        np.maximum(val, sub, out=val)
    idx = np.full(val.shape, q * q - 1, dtype=np.int8)
    for k in range(q * q - 2, -1, -1):  # the lowest index of a maximum is written last
        idx[subs[k] == val] = k
    return val, idx


def unpool(v: np.ndarray, idx: np.ndarray | None, q: int, hw: tuple[int, int]
           ) -> np.ndarray:
    """The pooling's inverse P^-1 (its adjoint): each pooled value goes back to the
    position its window's maximum came from, zeros elsewhere; (B, H, W, C) with the
    pre-pooling height and width ``hw``."""
    if q == 1:
        return v
    B, hp, wp, C = v.shape
    out = np.zeros((B, *hw, C), dtype=v.dtype)
    zero = v.dtype.type(0)
    for k, (dy, dx) in enumerate(_offsets(q)):
        out[:, dy:hp * q:q, dx:wp * q:q, :] = np.where(idx == k, v, zero)
    return out


class ConvLink:
    """A conv weight layer with its pooling, between a lower map u and an upper map v.
    ``Wm`` is set by the owner (matrix form, in the owner's dtype)."""

    def __init__(self, k: int, stride: int, pad: int, pool: int,
                 in_shape: tuple[int, int, int], conv_shape: tuple[int, int, int]):
        self.k, self.stride, self.pad, self.pool = k, stride, pad, pool
        self.in_shape, self.conv_shape = in_shape, conv_shape
        self.Wm: np.ndarray = np.zeros(0)

    def forward(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """P(K * u): the bottom-up drive of v (no bias) and the pooling routing."""
        B = len(u)
        z = (im2col(u, self.k, self.stride, self.pad) @ self.Wm).reshape(
            B, *self.conv_shape)
        return maxpool(z, self.pool)

    def backward(self, v: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        """K^T * P^-1(v): the top-down drive of u (the adjoint of ``forward`` at fixed
        routing).  One product per kernel tap, each added onto the map at its shift:
        the adjoint of im2col without materialising its (B*Ho*Wo, k*k*C) columns."""
        B = len(v)
        ho, wo, co = self.conv_shape
        H, W, C = self.in_shape
        k, st, pad = self.k, self.stride, self.pad
        g = unpool(v, idx, self.pool, (ho, wo)).reshape(-1, co)
        taps = self.Wm.reshape(k * k, C, co)
        out = np.zeros((B, H + 2 * pad, W + 2 * pad, C), dtype=g.dtype)
        for t, (dy, dx) in enumerate(_offsets(k)):
            out[:, dy:dy + st * (ho - 1) + 1:st, dx:dx + st * (wo - 1) + 1:st, :] += (
                g @ taps[t].T).reshape(B, ho, wo, C)
        return out[:, pad:pad + H, pad:pad + W, :] if pad else out

    def weight_stat(self, u: np.ndarray, v: np.ndarray, idx: np.ndarray | None
                    ) -> np.ndarray:
        """dPhi/dK = P^-1(v) correlated with u, summed over the batch, matrix form."""
        g = unpool(v, idx, self.pool, self.conv_shape[:2])
        return im2col(u, self.k, self.stride, self.pad).T @ g.reshape(-1, self.conv_shape[2])

    @staticmethod
    def bias_stat(v: np.ndarray) -> np.ndarray:
        """dPhi/db: each pooled unit's value once (the max passes the bias through)."""
        return v.reshape(-1, v.shape[-1]).sum(0)


class DenseLink:
    """A fully connected weight layer; ``Wm`` = W^T, shape (n_in, n_out); a conv map
    below is flattened in (H, W, C) order."""

    def __init__(self, in_shape: tuple[int, ...]):
        self.in_shape = in_shape
        self.Wm: np.ndarray = np.zeros(0)

    def forward(self, u: np.ndarray) -> tuple[np.ndarray, None]:
        return u.reshape(len(u), -1) @ self.Wm, None

    def backward(self, v: np.ndarray, idx: None = None) -> np.ndarray:
        return (v @ self.Wm.T).reshape(len(v), *self.in_shape)

    def weight_stat(self, u: np.ndarray, v: np.ndarray, idx: None = None) -> np.ndarray:
        return u.reshape(len(u), -1).T @ v

    @staticmethod
    def bias_stat(v: np.ndarray) -> np.ndarray:
        return v.sum(0)
