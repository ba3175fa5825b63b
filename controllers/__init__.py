"""Signal controllers, registered by name.

Each controller is a thin class over ``@njit`` kernels that decide for all signals in one call.
Importing this package imports every module in it (in name order), so each ``@register`` class
is found without a list to maintain: a new controller is one new module here. :func:`get` looks
one up by name.
"""

import importlib
import pkgutil

from controllers.base import REGISTRY, Controller, available, create, get, register
from controllers.check import check_controller

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Controller", "available", "check_controller", "create", "get", "register"]
