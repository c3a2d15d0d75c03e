"""The EP core (``EPCore``) and the units it is built from."""

from .top import (
    AddressMap,
    EPCore,
    default_shared_mul,
    job_layout,
    multiplier_shape,
    unsupported,
    update_q_width,
)

__all__ = ["AddressMap", "EPCore", "default_shared_mul", "job_layout", "multiplier_shape",
           "unsupported", "update_q_width"]
