"""Progress reports on stderr: a rich bar on a terminal, a few plain lines otherwise.

``RunProgress`` is the runner's per-step callback ``progress(time_s, running_veh)``;
``running_veh()`` is only called when the display is refreshed (at most ``refresh_hz`` times per
wall-clock second on a terminal, at every tenth of the window otherwise), so a step costs one
comparison and one clock read. ``CountProgress`` counts finished runs of ``compare``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

PLAIN_STEPS = 10  # plain mode: one line per tenth of the window / of the runs


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class RunProgress:
    """Simulated time and running vehicles of one run."""

    def __init__(
        self,
        label: str,
        begin_s: float,
        end_s: float,
        stream: TextIO | None = None,
        refresh_hz: float = 4.0,
        rich_bar: bool | None = None,
    ) -> None:
        self.label = label
        self.begin_s = float(begin_s)
        self.span_s = max(float(end_s) - self.begin_s, 1e-9)
        self.stream = stream or sys.stderr
        self.rich_bar = is_terminal(self.stream) if rich_bar is None else rich_bar
        self._period_s = 1.0 / refresh_hz
        self._next_wall = 0.0
        self._next_frac = 1.0 / PLAIN_STEPS
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> RunProgress:
        if self.rich_bar:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("sim {task.completed:.0f}/{task.total:.0f} s"),
                TextColumn("{task.fields[veh]} veh"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.span_s, veh=0)
        return self

    def __call__(self, time_s: float, running_veh: Callable[[], int]) -> None:
        if self._bar is not None:
            now = time.monotonic()
            if now < self._next_wall:
                return
            self._next_wall = now + self._period_s
            self._bar.update(self._task, completed=time_s - self.begin_s, veh=running_veh())
            return
        frac = (time_s - self.begin_s) / self.span_s
        if frac + 1e-9 < self._next_frac:
            return
        while self._next_frac <= frac + 1e-9:
            self._next_frac += 1.0 / PLAIN_STEPS
        print(
            f"{self.label}: {time_s:.0f} s ({100 * min(frac, 1.0):.0f} %), "
            f"{running_veh()} vehicles running",
            file=self.stream,
            flush=True,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()


class CountProgress:
    """Runs done out of ``total`` (``compare``); :meth:`done` also prints the finished run."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.n_done = 0
        self.stream = stream or sys.stderr
        self.rich_bar = is_terminal(self.stream)
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> CountProgress:
        if self.rich_bar:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("runs"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def done(self, message: str) -> None:
        """One more run finished; ``message`` describes it."""
        self.n_done += 1
        if self._bar is not None:
            self._bar.console.print(message)
            self._bar.update(self._task, completed=self.n_done)
        else:
            print(f"[{self.n_done}/{self.total}] {message}", file=self.stream, flush=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
