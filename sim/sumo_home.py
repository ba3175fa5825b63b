"""Locate the SUMO installation that ships with the ``eclipse-sumo`` wheel.

The wheel does not set ``SUMO_HOME``; SUMO needs it for XML validation and its tools, so it is set
here before anything imports ``sumolib``, ``traci`` or ``libsumo``.
"""

from __future__ import annotations

import functools
import os


@functools.cache
def sumo_home() -> str:
    """Return SUMO_HOME, setting it from the ``sumo`` wheel when the environment lacks it."""
    home = os.environ.get("SUMO_HOME")
    if not home or not os.path.isdir(home):
        import sumo

        home = sumo.SUMO_HOME
        os.environ["SUMO_HOME"] = home
    return home


@functools.cache
def sumo_binary(name: str = "sumo") -> str:
    """Absolute path of a SUMO binary (``sumo``, ``sumo-gui``, ``netconvert``...)."""
    sumo_home()
    import sumolib

    return sumolib.checkBinary(name)


@functools.cache
def sumo_version() -> str:
    """Version of the SUMO wheel in use, e.g. ``1.28.0``."""
    from importlib.metadata import version

    return version("eclipse-sumo")


sumo_home()
