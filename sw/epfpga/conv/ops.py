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


def col2im(cols: np.ndarray, shape: tuple[int, int, int, int], k: int, stride: int,
           pad: int) -> np.ndarray:
    """Adjoint of ``im2col``: add every row's k*k*C values back onto the (B, H, W, C)
    map they were read from."""
    B, H, W, C = shape
    ho, wo = conv_out_size(H, k, stride, pad), conv_out_size(W, k, stride, pad)
    out = np.zeros((B, H + 2 * pad, W + 2 * pad, C), dtype=cols.dtype)
    c6 = cols.reshape(B, ho, wo, k, k, C)
    for dy in range(k):
        for dx in range(k):
            out[:, dy:dy + stride * (ho - 1) + 1:stride,
                dx:dx + stride * (wo - 1) + 1:stride, :] += c6[:, :, :, dy, dx, :]
    return out[:, pad:pad + H, pad:pad + W, :] if pad else out


def maxpool(z: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Non-overlapping q x q max-pooling of (B, H, W, C): values (B, H//q, W//q, C) and
    the winner's index dy*q + dx in its window (first maximum on ties)."""
    if q == 1:
        return z, None
    B, H, W, C = z.shape
    hp, wp = H // q, W // q
    win = z[:, :hp * q, :wp * q, :].reshape(B, hp, q, wp, q, C).transpose(0, 1, 3, 5, 2, 4)
    win = win.reshape(B, hp, wp, C, q * q)
    idx = np.argmax(win, axis=-1)
    val = np.take_along_axis(win, idx[..., None], axis=-1)[..., 0]
    return val, idx.astype(np.int8)


def unpool(v: np.ndarray, idx: np.ndarray | None, q: int, hw: tuple[int, int]
           ) -> np.ndarray:
    """The pooling's inverse P^-1 (its adjoint): each pooled value goes back to the
    position its window's maximum came from, zeros elsewhere; (B, H, W, C) with the
    pre-pooling height and width ``hw``."""
    if q == 1:
        return v
    B, hp, wp, C = v.shape
    win = np.zeros((B, hp, wp, C, q * q), dtype=v.dtype)
    np.put_along_axis(win, idx[..., None].astype(np.intp), v[..., None], axis=-1)
    out = win.reshape(B, hp, wp, C, q, q).transpose(0, 1, 4, 2, 5, 3).reshape(
        B, hp * q, wp * q, C)
    H, W = hw
    if (H, W) != (hp * q, wp * q):
        out = np.pad(out, ((0, 0), (0, H - hp * q), (0, W - wp * q), (0, 0)))
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
        routing)."""
        g = unpool(v, idx, self.pool, self.conv_shape[:2])
        cols = g.reshape(-1, self.conv_shape[2]) @ self.Wm.T
        return col2im(cols, (len(v), *self.in_shape), self.k, self.stride, self.pad)

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
