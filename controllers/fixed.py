"""``fixed``: the network's own fixed-time program, untouched. SUMO times the signals."""

from __future__ import annotations

from controllers.base import Controller, register


@register
class Fixed(Controller):
    """The net's static program as SUMO runs it; lightwatch only records."""

    name = "fixed"
    summary = "the network's own fixed-time plan (SUMO runs it)"
    drives_signals = False
