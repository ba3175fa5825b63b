"""Signal controllers, registered by name.

Each controller is a thin class over ``@njit`` kernels that decide for all signals in one call.
Importing this package registers every bundled controller; :func:`get` looks one up by name.
"""

from controllers import (  # noqa: F401  (registers them)
    count,
    fixed,
    greedy,
    max_pressure,
    sotl,
    sumo_programs,
    webster,
)
from controllers.base import REGISTRY, Controller, available, create, get, register
from controllers.check import check_controller

__all__ = ["REGISTRY", "Controller", "available", "check_controller", "create", "get", "register"]
