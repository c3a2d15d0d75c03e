"""PLL settings and instances that turn the board oscillator into the core clock.

The divider search is plain arithmetic over each PLL's documented ranges, so a requested
clock is checked (and the achieved one reported) before any tool runs.  The ranges and
loop-filter settings follow designs known to lock on these parts: Project Trellis's
``ecppll`` and LiteX's ``ECP5PLL`` for the ECP5, Project IceStorm's ``icepll`` for the
iCE40 (DESIGN.md section 10).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Instance, Signal

from epfpga.errors import EpfpgaError

#: EHXPLLL ranges in MHz.  The phase detector's floor is LiteX's 10 MHz, not the
#: 3.125 MHz ecppll accepts: a slow phase detector is where ECP5 designs were seen never
#: to assert LOCK.  The output range is ecppll's.
ECP5_PFD, ECP5_VCO, ECP5_OUT, ECP5_DIV = (10.0, 400.0), (400.0, 800.0), (10.0, 400.0), 128
#: Loop filter and charge pump as LiteX sets them; nextpnr writes 0 for any left out.
ECP5_LOOP_ATTRS = {"ICP_CURRENT": "6", "LPF_RESISTOR": "16", "MFG_ENABLE_FILTEROPAMP": "1",
                   "MFG_GMCREF_SEL": "2"}
#: SB_PLL40 ranges in MHz (icepll): phase detector, VCO, output.
ICE40_PFD, ICE40_VCO, ICE40_OUT = (10.0, 133.0), (533.0, 1066.0), (16.0, 275.0)
#: iCE40 PLL loop filter range by phase-detector frequency (MHz, upper bounds).
ICE40_FILTER = ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5), (133, 6))


@dataclass(frozen=True)
class PLLSetting:
    f_out_mhz: float
    params: dict[str, int]
    pfd_mhz: float
    vco_mhz: float


def _within(f: float, lo_hi: tuple[float, float]) -> bool:
    return lo_hi[0] <= f <= lo_hi[1]


def ecp5_setting(f_in: float, f_out: float) -> PLLSetting:
    """EHXPLLL with the core clock on CLKOP and an internal feedback through CLKOS:
    VCO = f_in / CLKI_DIV * CLKFB_DIV * CLKOS_DIV, f_out = VCO / CLKOP_DIV.  A separate
    feedback output lets the phase detector run at the full oscillator rate for any
    output (40 MHz from 25: VCO 600 = 25 x 24, CLKOP 600 / 15).  Nearest clock first,
    then the VCO nearest the middle of its range."""
    best, key = None, None
    for clki in range(1, ECP5_DIV + 1):
        pfd = f_in / clki
        if not _within(pfd, ECP5_PFD):
            continue
        for fb in range(1, ECP5_DIV + 1):  # CLKOS_DIV; CLKFB_DIV stays 1
            vco = pfd * fb
            if not _within(vco, ECP5_VCO):
                continue
            for op in range(1, ECP5_DIV + 1):
                f = vco / op
                k = (abs(f - f_out), abs(vco - sum(ECP5_VCO) / 2), clki)
                if _within(f, ECP5_OUT) and (key is None or k < key):
                    best, key = PLLSetting(f, {"CLKI_DIV": clki, "CLKFB_DIV": 1,
                                               "CLKOS_DIV": fb, "CLKOP_DIV": op},
                                           pfd, vco), k
    return _checked(best, f_out, "ECP5")


def ice40_setting(f_in: float, f_out: float) -> PLLSetting:
    """SB_PLL40 in SIMPLE feedback: f_out = f_in / (DIVR+1) * (DIVF+1) / 2**DIVQ; the
    first nearest setting in icepll's search order."""
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not _within(pfd, ICE40_PFD):
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not _within(vco, ICE40_VCO):
                continue
            for divq in range(1, 7):
                f = vco / 2 ** divq
                if not _within(f, ICE40_OUT):
                    continue
                if best is None or abs(f - f_out) < abs(best.f_out_mhz - f_out):
                    filt = next(r for hi, r in ICE40_FILTER if pfd < hi)
                    best = PLLSetting(f, {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                          "FILTER_RANGE": filt}, pfd, vco)
    return _checked(best, f_out, "iCE40")


def _checked(best: PLLSetting | None, f_out: float, family: str) -> PLLSetting:
    if best is None or abs(best.f_out_mhz - f_out) / f_out > 0.02:
        near = f" (nearest {best.f_out_mhz:.2f} MHz)" if best else ""
        raise EpfpgaError(f"the {family} PLL cannot make {f_out:g} MHz within 2%{near}")
    return best


def pll_setting(device: str, f_in: float, f_out: float) -> PLLSetting:
    """The setting for ``f_out`` MHz on ``device``'s PLL (an ECP5 or an iCE40)."""
    return (ecp5_setting if device.startswith("LFE5") else ice40_setting)(f_in, f_out)


def quarter_phase(div: int) -> tuple[int, int]:
    """(CPHASE, FPHASE) of an EHXPLLL output with divider ``div`` lagging the
    zero-phase one (CPHASE = div - 1) by 90 degrees: a quarter of ``div`` VCO cycles, in
    whole cycles and eighths."""
    eighths = 2 * div  # div * 8 / 4
    return div - 1 + eighths // 8, eighths % 8


def pll_instance(setting: PLLSetting, f_in: float, clk_in,
                 clk_out: Signal, locked: Signal, clk_90: Signal | None = None) -> Instance:
    """``clk_in``: the buffered oscillator (ECP5) or the oscillator pin's io port
    (iCE40).  ``clk_90`` (ECP5): the core clock again, 90 degrees later, on CLKOS2 (the
    SDRAM's clock: LiteX's ULX3S target shifts it so)."""
    p = setting.params
    if "CLKOP_DIV" in p:
        attrs = {f"a_{k}": v for k, v in ECP5_LOOP_ATTRS.items()}
        if clk_90 is not None:
            cphase, fphase = quarter_phase(p["CLKOP_DIV"])
            attrs.update(p_CLKOS2_ENABLE="ENABLED", p_CLKOS2_DIV=p["CLKOP_DIV"],
                         p_CLKOS2_CPHASE=cphase, p_CLKOS2_FPHASE=fphase,
                         a_FREQUENCY_PIN_CLKOS2=f"{setting.f_out_mhz:g}", o_CLKOS2=clk_90)
        # FEEDBK_PATH INT_OS: CLKOS closes the loop inside the PLL (no CLKFB net), as
        # LiteX does; CPHASE = DIV - 1 is a zero phase shift
        return Instance(
            "EHXPLLL", **attrs,
            a_FREQUENCY_PIN_CLKI=f"{f_in:g}", a_FREQUENCY_PIN_CLKOP=f"{setting.f_out_mhz:g}",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_FEEDBK_PATH="INT_OS", p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0,
            p_CLKOS_ENABLE="ENABLED", p_CLKOS_DIV=p["CLKOS_DIV"],
            p_CLKOS_CPHASE=p["CLKOS_DIV"] - 1, p_CLKOS_FPHASE=0,
            i_CLKI=clk_in, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
            i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0, i_PHASELOADREG=0,
            i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=clk_out, o_LOCK=locked,
        )
    return Instance(
        "SB_PLL40_PAD",
        p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
        p_FILTER_RANGE=p["FILTER_RANGE"],
        i_PACKAGEPIN=clk_in, i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=clk_out,
        o_LOCK=locked,
    )
