"""Arithmetic on lanes and banks: with P lanes a vector is packed P values to a word and
a weight matrix sits in P skewed banks (hw/layout.py), so a lane number, a bank number
and a word are bit fields of an index, and the bank that serves a lane is a rotation.
Shared by every unit that walks the banks (drive, predrive, relaxation, update)."""

from __future__ import annotations

from amaranth.hdl import Array, Const, Mux, Value


class Lanes:
    def __init__(self, lanes: int):
        self.P = lanes
        self.lg = lanes.bit_length() - 1

    def lo(self, v) -> Value:
        """v mod P (a lane or bank number)."""
        return v[:self.lg] if self.P > 1 else Const(0, 1)

    def hi(self, v) -> Value:
        """v // P (a packed word)."""
        return v >> self.lg

    def rot(self, b: int, v) -> Value:
        """(b - v) mod P: the lane that bank b serves when the skew is v."""
        return (Const(b, self.lg + 1) - v)[:self.lg] if self.P > 1 else Const(0, 1)

    def lane(self, word, k, bits: int, signed_: bool = False) -> Value:
        """Lane k's value of a packed word."""
        v = word.word_select(k, bits) if self.P > 1 else word[:bits]
        return v.as_signed() if signed_ else v

    def onehot(self, k) -> Value:
        return Const(1, self.P) << k if self.P > 1 else Const(1, 1)

    def skew_rows(self, words: int, b: int, v) -> Value:
        """((b - v) mod P) * words, from a table: a multiplier here would take a DSP
        block per bank and sit in the address path."""
        P = self.P
        return Array(Const(((b - k) % P) * words, range(P * words)) for k in range(P))[v]

    def group_addr(self, words: int, b: int, base, c) -> Value:
        """Address in bank b of the weight that lane (b - c) mod P needs when the group
        of P rows whose first weight is at ``base`` visits column c (``words``: the
        layer's words per row and bank)."""
        if self.P == 1:
            return base + c
        return base + self.skew_rows(words, b, self.lo(c)) + self.hi(c)

    def rotate(self, vals: list, c, back: bool = False) -> list:
        """Entry k is vals[(k + c) mod P] (``back``: vals[(k - c) mod P]): a barrel of
        lg two-way mux levels, not P P-way muxes (fewer cells, local wires)."""
        P, out = self.P, list(vals)
        for lvl in range(self.lg):
            d = (-(1 << lvl) if back else 1 << lvl) % P
            out = [Mux(c[lvl], out[(k + d) % P], out[k]) for k in range(P)]
        return out
