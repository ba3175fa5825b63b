"""``sim.outdir``: result folders appear complete or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import outdir
from sim.errors import InputError


def test_prepare_starts_fresh_and_finish_replaces_the_old_result(tmp_path: Path) -> None:
    out = tmp_path / "a" / "run"
    leftover = outdir.prepare(out)
    (leftover / "stale.txt").write_text("from an interrupted run")
    tmp = outdir.prepare(out)
    assert tmp == leftover and tmp.name == "run.partial" and list(tmp.iterdir()) == []
    (tmp / "summary.json").write_text("{}")
    out.mkdir()
    (out / "old.txt").write_text("older result")
    outdir.finish(tmp, out)
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert not tmp.exists()


def test_partial_marker_says_why_and_how_far(tmp_path: Path) -> None:
    tmp = outdir.prepare(tmp_path / "run")
    outdir.mark_partial(tmp, "interrupted", 120.0)
    assert (
        tmp / "PARTIAL"
    ).read_text() == "run did not finish: interrupted\nsimulated_time_s: 120\n"
    outdir.mark_partial(tmp, "SUMO crashed")
    assert (tmp / "PARTIAL").read_text().endswith("simulated_time_s: none\n")


def test_a_file_in_the_way_is_an_input_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    with pytest.raises(InputError, match="blocker is a file, not a folder"):
        outdir.prepare(tmp_path / "blocker" / "run")
