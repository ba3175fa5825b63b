"""lightwatch: adaptive traffic signal control on SUMO networks.

The package ``sim`` holds everything around the simulation (scenarios, backends, timing safety,
runner, metrics, CLI); ``controllers`` holds the signal controllers.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lightwatch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
