"""PLL settings and instances that turn the board oscillator into the core clock.

The divider search is plain arithmetic over each PLL's documented ranges, so a requested
clock is checked (and the achieved one reported) before any tool runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Instance, Signal

from epfpga.errors import EpfpgaError


@dataclass(frozen=True)
class PLLSetting:
    f_out_mhz: float
    params: dict[str, int]


def ecp5_setting(f_in: float, f_out: float) -> PLLSetting:
    """EHXPLLL: f_out = f_in / CLKI_DIV * CLKFB_DIV, VCO = f_out * CLKOP_DIV in 400..800
    MHz, phase detector input >= 3.125 MHz."""
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if pfd < 3.125:
            break
        for clkfb in range(1, 81):
            f = pfd * clkfb
            for clkop in range(1, 129):
                if 400 <= f * clkop <= 800:
                    if best is None or abs(f - f_out) < abs(best.f_out_mhz - f_out):
                        best = PLLSetting(f, {"CLKI_DIV": clki, "CLKFB_DIV": clkfb,
                                              "CLKOP_DIV": clkop})
                    break
    return _checked(best, f_out, "ECP5")


#: iCE40 PLL loop filter range by phase-detector frequency (MHz, upper bounds).
ICE40_FILTER = ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5), (133, 6))


def ice40_setting(f_in: float, f_out: float) -> PLLSetting:
    """SB_PLL40: f_out = f_in / (DIVR+1) * (DIVF+1) / 2**DIVQ, phase detector input in
    10..133 MHz, VCO in 533..1066 MHz."""
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                f = vco / 2 ** divq
                if best is None or abs(f - f_out) < abs(best.f_out_mhz - f_out):
                    filt = next(r for hi, r in ICE40_FILTER if pfd < hi)
                    best = PLLSetting(f, {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                          "FILTER_RANGE": filt})
    return _checked(best, f_out, "iCE40")


def _checked(best: PLLSetting | None, f_out: float, family: str) -> PLLSetting:
    if best is None or abs(best.f_out_mhz - f_out) / f_out > 0.02:
        near = f" (nearest {best.f_out_mhz:.2f} MHz)" if best else ""
        raise EpfpgaError(f"the {family} PLL cannot make {f_out:g} MHz within 2%{near}")
    return best


def pll_instance(family: str, setting: PLLSetting, f_in: float, clk_in,  # noqa: ANN001
                 clk_out: Signal, locked: Signal) -> Instance:
    """``clk_in``: the buffered oscillator (ECP5) or the oscillator pin's io port
    (iCE40)."""
    p = setting.params
    if family == "ecp5":
        return Instance(
            "EHXPLLL",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_FEEDBK_PATH="CLKOP",
            p_CLKOP_ENABLE="ENABLED", p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
            p_CLKOP_DIV=p["CLKOP_DIV"], p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0,
            a_FREQUENCY_PIN_CLKI=f"{f_in:g}", a_FREQUENCY_PIN_CLKOP=f"{setting.f_out_mhz:g}",
            i_CLKI=clk_in, i_CLKFB=clk_out, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
            i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0, i_PHASELOADREG=0,
            i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=clk_out, o_LOCK=locked,
        )
    # the UP5K's PLL sits behind the clock pad: it takes the pin itself, not a buffer
    return Instance(
        "SB_PLL40_PAD",
        p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
        p_FILTER_RANGE=p["FILTER_RANGE"],
        i_PACKAGEPIN=clk_in, i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=clk_out,
        o_LOCK=locked,
    )
