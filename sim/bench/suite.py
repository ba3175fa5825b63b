"""Benchmark suites: scenarios × controllers × seeds, as TOML data (schema in benchmarks/README.md).

Run settings use the keys of :mod:`sim.config` (RunConfig field names), checked by the same code
as ``--config`` files. A suite is validated completely (every scenario loaded, every controller
created, every scenario × controller configuration validated) before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.config import check_settings, check_value, field_kinds, read_toml, unknown_key
from sim.errors import InputError
from sim.runner import RunConfig

# RunConfig fields that are no general suite setting: set per run by the suite, meaningless in a
# bench (out, gui), or part of a scenario table (net_file, route_files: resolved against root)
_PER_RUN = frozenset({"scenario", "controller", "seed", "out", "gui", "net_file", "route_files"})
# configuration keys that do not change a result (ignored when comparing configurations)
_NOT_RESULT = frozenset({"out", "gui"})
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
_SUITE_KEYS = frozenset(
    {"name", "description", "seeds", "root", "skip_missing", "defaults", "scenarios", "controllers"}
)
_SCENARIO_KEYS = frozenset({"name", "path", "net_file", "route_files", "label", "skip_missing"})
_CONTROLLER_KEYS = frozenset({"name", "label"})
BENCH_FOLDERS = "runs/{scenario}/{controller}/seed{seed}"


@dataclass(frozen=True)
class PlannedRun:
    """One run of a suite: labels for the tables, its folder below the output folder (relative
    path), and its configuration."""

    scenario: str
    controller: str
    seed: int
    config: RunConfig
    folder: str = ""

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.controller}/seed{self.seed}"


@dataclass(frozen=True)
class Suite:
    """A planned suite: the runs in order, and what was skipped (one message each).

    ``settings[(scenario, controller)]`` is the configuration shared by that pair's seeds
    (:func:`result_settings`); ``path`` is the suite file (``None`` for a suite built in memory).
    """

    name: str
    path: Path | None
    seeds: tuple[int, ...]
    scenarios: tuple[str, ...]
    controllers: tuple[str, ...]
    runs: tuple[PlannedRun, ...]
    skipped: tuple[str, ...] = ()
    settings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def plan_suite(
    name: str,
    path: Path | None,
    bases: Mapping[tuple[str, str], RunConfig],
    seeds: Sequence[int],
    folders: str = BENCH_FOLDERS,
    skipped: Sequence[str] = (),
) -> Suite:
    """The suite running every ``bases[(scenario, controller)]`` with each seed, in the order of
    ``bases`` then ``seeds``; ``folders`` places each run (``{scenario}``, ``{controller}``,
    ``{seed}``) below the output folder."""
    runs = [
        PlannedRun(
            s,
            c,
            seed,
            dataclasses.replace(base, seed=seed),
            folders.format(scenario=s, controller=c, seed=seed),
        )
        for (s, c), base in bases.items()
        for seed in seeds
    ]
    return Suite(
        name=name,
        path=path,
        seeds=tuple(seeds),
        scenarios=tuple(dict.fromkeys(s for s, _ in bases)),
        controllers=tuple(dict.fromkeys(c for _, c in bases)),
        runs=tuple(runs),
        skipped=tuple(skipped),
        settings={k: result_settings(b, with_scenario=False) for k, b in bases.items()},
    )


def result_settings(cfg: RunConfig | Mapping[str, Any], with_scenario: bool) -> dict[str, Any]:
    """The configuration that determines a result, as JSON data (``out`` and ``gui`` dropped;
    ``scenario`` and ``seed`` too unless ``with_scenario``)."""
    d = dataclasses.asdict(cfg) if isinstance(cfg, RunConfig) else dict(cfg)
    drop = _NOT_RESULT if with_scenario else _NOT_RESULT | {"scenario", "seed"}
    out = {k: v for k, v in d.items() if k not in drop}
    return json.loads(json.dumps(out))


def _settable(allow_params: bool) -> set[str]:
    keys = set(field_kinds()) - _PER_RUN
    return keys if allow_params else keys - {"params"}


def _entries(doc: Mapping[str, Any], key: str, suite_file: Path) -> list[dict[str, Any]]:
    raw = doc.get(key)
    if not isinstance(raw, list) or not raw:
        raise InputError(f"suite {suite_file} lists no {key} (an array of names or tables)")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append({"name": item})
        elif isinstance(item, dict):
            out.append(dict(item))
        else:
            raise InputError(f"suite {suite_file}: {key}[{i}] must be a name or a table")
    return out


def _label(where: str, label: Any) -> str:
    if not isinstance(label, str) or not _LABEL.match(label):
        raise InputError(
            f"{where}: label {label!r} must be letters, digits and . _ @ + - (it names a folder)"
        )
    return label


def _controllers(doc: Mapping[str, Any], suite_file: Path) -> list[tuple[str, str, dict]]:
    """``(label, name, settings)`` per controller entry; unknown names are named all at once."""
    import controllers

    entries = _entries(doc, "controllers", suite_file)
    for i, e in enumerate(entries):
        if not isinstance(e.get("name"), str):
            raise InputError(f"suite {suite_file}: controllers[{i}] has no name")
    missing = [e["name"] for e in entries if e["name"] not in controllers.REGISTRY]
    if missing:
        raise InputError(
            f"suite {suite_file}: unknown controller(s) {', '.join(missing)}; "
            f"registered: {', '.join(controllers.available())}"
        )
    out = []
    for i, e in enumerate(entries):
        where = f"suite {suite_file} controllers[{i}] ({e['name']})"
        label = _label(where, e.get("label", e["name"]))
        out.append((label, e["name"], check_settings(where, e, _settable(True), _CONTROLLER_KEYS)))
    _unique(suite_file, "controller", [c[0] for c in out])
    return out


def load_suite(path: str | Path) -> Suite:
    """Parse and validate a suite file; see ``benchmarks/README.md`` for the schema.

    Relative scenario paths are resolved against ``root`` (itself relative to the suite file's
    folder, default that folder). Scenarios whose path is missing are skipped with a message when
    ``skip_missing`` is true (per scenario or for the whole suite), an InputError otherwise.
    """
    import controllers
    from sim.runner import scenario_of, timing_params
    from sim.scenario import bundled_scenarios

    suite_file = Path(path)
    if not suite_file.is_file():
        raise InputError(f"suite file not found: {suite_file}")
    doc = read_toml(suite_file, "suite file")
    where_suite = f"suite {suite_file}"
    for key in doc:
        if key not in _SUITE_KEYS:
            raise unknown_key(where_suite, key, _SUITE_KEYS)
    name = _label(where_suite, doc.get("name", suite_file.name.removesuffix(".toml")))
    seeds = check_value(where_suite, "seeds", doc.get("seeds"))
    root = (suite_file.parent / str(doc.get("root", "."))).resolve()
    skip_all = doc.get("skip_missing", False)
    defaults_raw = doc.get("defaults", {})
    if not isinstance(defaults_raw, dict):
        raise InputError(f"{where_suite}: defaults must be a table")
    defaults = check_settings(f"{where_suite} [defaults]", defaults_raw, _settable(False))
    ctls = _controllers(doc, suite_file)

    bundled = bundled_scenarios()
    checked: dict[tuple[Any, ...], Any] = {}  # scenarios validated, by what defines them
    scens: list[tuple[str, str | None, dict[str, Any]]] = []
    skipped: list[str] = []
    for i, e in enumerate(_entries(doc, "scenarios", suite_file)):
        where = f"{where_suite} scenarios[{i}]"
        given = [k for k in ("name", "path", "net_file") if k in e]
        if len(given) != 1:
            raise InputError(f"{where}: give exactly one of name (bundled), path or net_file")
        if "route_files" in e and "net_file" not in e:
            raise InputError(f"{where}: route_files needs net_file")
        settings = check_settings(where, e, _settable(False), _SCENARIO_KEYS)
        spec: str | None
        if "name" in e:
            spec = str(e["name"])
            if spec not in bundled:
                raise InputError(
                    f"{where}: no bundled scenario {spec!r} (bundled: {', '.join(bundled)}); "
                    "use path = ... for files"
                )
        else:
            key = given[0]
            files = [str(e[key])]
            if key == "net_file":
                files += check_value(where, "route_files", e.get("route_files", []))
            paths = [_under(root, f) for f in files]
            absent = [p for p in paths if not p.exists()]
            if absent:
                if e.get("skip_missing", skip_all):
                    skipped.append(f"skipping scenario {e[key]}: {absent[0]} not found")
                    continue
                raise InputError(f"{where}: scenario file not found: {absent[0]}")
            if key == "path":
                spec = str(paths[0])
            else:
                spec = None
                settings["net_file"] = str(paths[0])
                settings["route_files"] = tuple(str(p) for p in paths[1:])
        try:
            cfg0 = RunConfig(scenario=spec, **{**defaults, **settings})
            scenario = checked[_scenario_key(cfg0)] = scenario_of(cfg0)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        label = _label(where, e.get("label", scenario.name))
        scens.append((label, spec, settings))
    _unique(suite_file, "scenario", [s[0] for s in scens])

    bases: dict[tuple[str, str], RunConfig] = {}
    for s_label, spec, s_set in scens:
        for c_label, c_name, c_set in ctls:
            merged = {**defaults, **s_set, **c_set}
            merged["sumo_args"] = (
                *defaults.get("sumo_args", ()),
                *s_set.get("sumo_args", ()),
                *c_set.get("sumo_args", ()),
            )
            try:
                ctl = controllers.create(c_name, merged.get("params", {}))
                base = RunConfig(scenario=spec, controller=c_name, **merged)
                base.validate()
                timing_params(base, ctl.timing_defaults)
                skey = _scenario_key(base)
                if skey not in checked:
                    checked[skey] = scenario_of(base)
            except (InputError, TypeError) as exc:
                raise InputError(f"{where_suite}: {s_label} × {c_label}: {exc}") from None
            bases[(s_label, c_label)] = base
    return plan_suite(name, suite_file.resolve(), bases, seeds, skipped=skipped)


def _scenario_key(cfg: RunConfig) -> tuple[Any, ...]:
    return (cfg.scenario, cfg.net_file, cfg.route_files, cfg.profile, cfg.begin_s, cfg.end_s)


def _under(root: Path, path: str) -> Path:
    """``path`` resolved against ``root`` unless absolute (``~`` expanded)."""
    p = Path(path).expanduser()
    return (p if p.is_absolute() else root / p).resolve()


def _unique(suite_file: Path, what: str, labels: list[str]) -> None:
    seen = set()
    for label in labels:
        if label in seen:
            raise InputError(
                f"suite {suite_file}: {what} label {label!r} appears twice; give each a label"
            )
        seen.add(label)
