"""Errors that the CLI turns into one-line messages and exit codes.

``InputError`` (exit 2): bad input or usage, detected before or while setting up a run.
``RunFailed`` (exit 1): the simulation itself failed mid-run, or a check found a regression.
"""


class LightwatchError(Exception):
    """Base class: its message is shown to the user as one line."""

    exit_code = 1


class InputError(LightwatchError):
    """Bad input: missing or malformed files, impossible parameters, unknown names."""

    exit_code = 2


class RunFailed(LightwatchError):
    """A simulation that started could not finish (SUMO died, connection lost)."""

    exit_code = 1
