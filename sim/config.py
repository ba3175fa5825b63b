"""Run settings in TOML: one key schema for ``--config`` files and benchmark suites.

Keys are the fields of :class:`sim.runner.RunConfig` (``min_green_s = 7.0``,
``detection_range_m``, ``route_files = ["a.rou.xml"]``, a ``[params]`` table for the
controller's parameters), checked by :func:`check_settings` for both. ``compare`` adds
``controllers`` (a list of names) and ``seeds`` (a list of integers), the same keys as a suite's.

``--save-config FILE.toml`` writes the command's resolved settings with these keys;
``--config FILE.toml`` reads them back (flags given on the command line win). ``out`` and ``gui``
are never saved or read, so re-running a saved configuration does not overwrite its results.
An unknown key is one error line naming it and the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click
import tomli_w

from sim.errors import InputError
from sim.runner import RunConfig

# keys that are no configuration (where results go, the GUI) and command options kept out of files
NOT_SAVED = frozenset({"out", "gui"})
# keys beyond RunConfig's fields and their kinds (``compare``, bench suites)
EXTRA_KINDS = {"controllers": "names", "seeds": "seeds"}
# click parameter name -> config key, where they differ
_KEY_OF_PARAM = {"controller_list": "controllers"}


@functools.cache
def field_kinds() -> dict[str, str]:
    """Every RunConfig field and its kind: float, int, str, bool, args (list) or params (table)."""
    hints = typing.get_type_hints(RunConfig)
    kinds = {}
    for f in dataclasses.fields(RunConfig):
        args = set(typing.get_args(hints[f.name])) or {hints[f.name]}
        origin = typing.get_origin(hints[f.name])
        if origin is tuple:
            kinds[f.name] = "args"
        elif origin is dict:
            kinds[f.name] = "params"
        elif bool in args:
            kinds[f.name] = "bool"
        elif float in args:
            kinds[f.name] = "float"
        elif int in args:
            kinds[f.name] = "int"
        else:
            kinds[f.name] = "str"
    return kinds


def kind_of(key: str) -> str:
    return EXTRA_KINDS.get(key) or field_kinds()[key]


def unknown_key(where: str, key: str, valid: Iterable[str]) -> InputError:
    """The error for an unknown ``key``: names it and the nearest of ``valid``."""
    near = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.0)
    hint = f" (nearest valid key: {near[0]!r})" if near else ""
    return InputError(f"{where}: unknown key {key!r}{hint}")


def check_value(where: str, key: str, value: Any) -> Any:
    """``value`` of ``key`` checked and converted for RunConfig (lists become tuples), or an
    InputError naming ``where`` and ``key``."""
    kind = kind_of(key)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: {key} must be a number, got {value!r}")
        return float(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: {key} must be an integer, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise InputError(f"{where}: {key} must be a string, got {value!r}")
        return value
    if kind in ("args", "names"):
        if isinstance(value, str):  # RunConfig's own shorthand: "a,b" (sumo_args: "-x 1")
            value = value.split() if key == "sumo_args" else value.split(",")
            value = [v.strip() for v in value if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{where}: {key} must be a list of strings")
        return tuple(value)
    if kind == "seeds":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
        ):
            raise InputError(f"{where}: seeds must be a non-empty list of integers >= 0")
        if len(set(value)) != len(value):
            raise InputError(f"{where}: seeds repeat")
        return tuple(value)
    if not isinstance(value, dict) or not all(
        isinstance(v, int | float | str | bool) for v in value.values()
    ):
        raise InputError(f"{where}: {key} must be a table of numbers, strings or booleans")
    # booleans as the text `lightwatch tune` writes, so both spell a run's settings alike
    return {
        str(k): ("true" if v else "false") if isinstance(v, bool) else v for k, v in value.items()
    }


def check_settings(
    where: str,
    entry: Mapping[str, Any],
    allowed: Iterable[str],
    other_keys: Iterable[str] = (),
) -> dict[str, Any]:
    """The settings of a TOML table, checked: every key must be in ``allowed`` (settings,
    returned converted) or ``other_keys`` (handled by the caller, skipped here)."""
    allowed = set(allowed)
    other = set(other_keys)
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key in other:
            continue
        if key not in allowed:
            raise unknown_key(where, key, allowed | other)
        out[key] = check_value(where, key, value)
    return out


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file as a table; InputError when missing, unreadable or malformed."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read the {what} {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None


# ---------------------------------------------------------------------------------------------
# --config / --save-config of the commands


def _key(param: click.Parameter) -> str | None:
    """Config key of a command parameter; ``None`` for parameters that are not settings."""
    if param.name is None:
        return None
    key = _KEY_OF_PARAM.get(param.name, param.name)
    if key in NOT_SAVED or (key not in field_kinds() and key not in EXTRA_KINDS):
        return None
    return key


def _many(param: click.Parameter) -> bool:
    return bool(getattr(param, "multiple", False)) or param.nargs == -1


def command_keys(command: click.Command) -> dict[str, click.Parameter]:
    """``{config key: parameter}`` of a command."""
    return {k: p for p in command.params if (k := _key(p)) is not None}


def _to_file(key: str, value: Any) -> Any:
    """A command-line value as the TOML value of ``key`` (``None`` for an empty one)."""
    if value is None:
        return None
    kind = kind_of(key)
    if kind == "params":
        out: dict[str, Any] = {}
        for item in value:
            k, _, v = str(item).partition("=")
            try:
                out[k.strip()] = float(v)
            except ValueError:
                out[k.strip()] = v.strip()
        value = out
    elif kind in ("args", "names"):  # "a,b" (options) or a tuple (sumo_args): a list
        value = list(value) if isinstance(value, tuple) else value
        value = list(check_value("command line", key, value))
    elif kind == "seeds":
        value = [int(v) for v in str(value).split(",") if v.strip()]
    return None if isinstance(value, str | list | dict) and not value else value


def _to_click(param: click.Parameter, key: str, value: Any) -> Any:
    """A checked TOML value as the value click expects for ``param`` (its default_map entry)."""
    if kind_of(key) == "params":
        return [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()]
    if isinstance(value, tuple):
        return list(value) if _many(param) else ",".join(str(v) for v in value)
    return value


def config_values(ctx: click.Context, resolved: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The command's settings as ``{key: TOML value}`` (empty ones left out); ``resolved``
    replaces ``None`` values (e.g. the scenario's time window ``begin_s``, ``end_s``)."""
    resolved = resolved or {}
    out: dict[str, Any] = {}
    for key, param in command_keys(ctx.command).items():
        if param.name not in ctx.params:
            continue
        value = ctx.params[param.name]
        if value is None:
            value = resolved.get(key)
        value = _to_file(key, value)
        if value is not None:
            out[key] = value
    return out


def save_resolved_config(
    path: str | Path | None, command: str, begin_s: float, end_s: float
) -> None:
    """``--save-config``: write the current command's settings (window resolved) to ``path``."""
    if not path:
        return
    from sim.scenario import bundled_scenarios

    values = config_values(click.get_current_context(), {"begin_s": begin_s, "end_s": end_s})
    bundled = bundled_scenarios()
    for key in ("scenario", "net_file"):  # paths given relative to here: make them absolute
        v = values.get(key)
        if isinstance(v, str) and v not in bundled and Path(v).exists():
            values[key] = str(Path(v).resolve())
    if "route_files" in values:
        values["route_files"] = [
            str(Path(r).resolve()) if Path(r).exists() else r for r in values["route_files"]
        ]
    save_config(Path(path), values, command)
    click.echo(f"config: {Path(path).resolve()}", err=True)


def save_config(path: Path, values: Mapping[str, Any], command: str) -> None:
    """Write ``values`` (from :func:`config_values`) as TOML with a short header."""
    head = (
        f"# lightwatch {command} configuration (keys as in benchmark suites: run settings).\n"
        f"# Re-run with: lightwatch {command} --config {path.name}\n"
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(head + tomli_w.dumps(dict(values)), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the config file {path}: {exc.strerror}") from None


def load_config(path: Path, command: click.Command) -> dict[str, Any]:
    """Read a config file for ``command`` as click's ``default_map`` (parameter name → value)."""
    data = read_toml(path, "config file")
    params = command_keys(command)
    checked = check_settings(str(path), data, params)
    return {
        params[k].name: _to_click(params[k], k, v)  # type: ignore[misc]
        for k, v in checked.items()
    }


def _load_callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    defaults = load_config(Path(value), ctx.command)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def config_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--config FILE.toml`` (read first; flags override it) and ``--save-config FILE.toml``."""
    f = click.option(
        "--save-config",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write the resolved configuration to this TOML file (keys: run settings).",
    )(f)
    f = click.option(
        "--config",
        type=click.Path(dir_okay=False),
        default=None,
        is_eager=True,
        expose_value=False,
        callback=_load_callback,
        help="Read settings from a TOML file written by --save-config; flags given here win.",
    )(f)
    return f
