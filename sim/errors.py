"""Errors that the CLI turns into one-line messages and exit codes.

``InputError`` (exit 2): bad input or usage, detected before or while setting up a run.
``RunFailed`` (exit 1): the simulation itself failed mid-run, or a check found a regression.
``Terminated`` (exit 143): SIGTERM, once :func:`install_sigterm_handler` has run.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class LightwatchError(Exception):
    """Base class: its message is shown to the user as one line."""

    exit_code = 1


class InputError(LightwatchError):
    """Bad input: missing or malformed files, impossible parameters, unknown names."""

    exit_code = 2


class RunFailed(LightwatchError):
    """A simulation that started could not finish (SUMO died, connection lost)."""

    exit_code = 1


class Terminated(BaseException):
    """The process received SIGTERM. Ends a run like Ctrl-C: the runner leaves ``<out>.partial/``
    with its ``PARTIAL`` marker; the CLI prints one line and exits with 143 (128 + SIGTERM).

    A ``BaseException``, like ``KeyboardInterrupt``, so ``except Exception`` does not swallow it;
    not a ``KeyboardInterrupt``, so click does not turn it into its own abort handling."""

    exit_code = 128 + signal.SIGTERM


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated("terminated by SIGTERM")


def install_sigterm_handler() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread (elsewhere: no change, as
    Python only runs signal handlers there)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
