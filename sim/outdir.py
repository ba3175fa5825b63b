"""Result folders written atomically: into ``<out>.partial/`` first, renamed to ``<out>/`` when
complete, so a folder without the suffix is always a finished result.

A run that stops mid-way leaves ``<out>.partial/`` with a ``PARTIAL`` file saying why; whoever
writes ``<out>`` next starts a fresh ``.partial`` folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sim.errors import InputError

PARTIAL_SUFFIX = ".partial"
PARTIAL_MARKER = "PARTIAL"


def partial_of(out: Path) -> Path:
    """``<out>.partial`` beside ``out`` (absolute)."""
    out = Path(out).resolve()
    return out.with_name(out.name + PARTIAL_SUFFIX)


def prepare(out: Path) -> Path:
    """Create a fresh, empty ``<out>.partial`` (its parents too) and return it.

    A leftover ``.partial`` folder is removed first. ``InputError`` when the folder cannot be
    made (naming the file that blocks the path, if any).
    """
    out = Path(out).resolve()
    tmp = partial_of(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else exc.strerror
        raise InputError(f"cannot write the output folder {out}: {why}") from None
    return tmp


def finish(tmp: Path, out: Path) -> None:
    """Move the complete ``tmp`` folder to ``out``, replacing an older ``out``."""
    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def mark_partial(tmp: Path, reason: str, simulated_time_s: float | None = None) -> None:
    """Write the ``PARTIAL`` file into ``tmp``: why the result is incomplete, and how far the
    simulation got (``none`` when it never stepped)."""
    reached = "none" if simulated_time_s is None else f"{simulated_time_s:g}"
    (Path(tmp) / PARTIAL_MARKER).write_text(
        f"run did not finish: {reason}\nsimulated_time_s: {reached}\n", encoding="utf-8"
    )
