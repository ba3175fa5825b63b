"""Deadlock watch: a vehicle standing inside a controlled junction for ``--stuck-s`` seconds.

SUMO's junction model can deadlock: vehicles inside a junction each give way to another (two
permissive movements merging into one lane, a left turner at its waiting point and the stream it
waits for standing in the junction because their exit is full), and with teleports off
(``--time-to-teleport -1``) they stand for good while the signals go on cycling. The gridlock
watch of ``sim.faults`` misses such a lock when vehicles keep arriving on the lanes behind it (a
lane never stands still as a whole); this watch looks at the junctions themselves.

Every :data:`DEADLOCK_SAMPLE_S` (30 s) it reads the halting count of each internal lane of the
controlled links' paths (``JunctionBox.lanes``) and, where some vehicle halts, SUMO's own
``vehicle.getWaitingTime`` (seconds below 0.1 m/s since it last moved) of the vehicles there. The
first vehicle found standing ``stuck_s`` or longer marks the run: ``blocked_junction`` (the
signal), ``blocked_lane``, ``blocked_at_s`` (when it stopped). ``junction_stuck_longest_s`` is the
longest standing time seen inside any controlled junction (sampled, so up to 30 s short). Each
reading is one SUMO call per internal lane (about 2,000 on ``city``), hence the long period.
No signal state ends such a lock; SUMO's ``--ignore-junction-blocker`` (``--junction-blocker-s``)
lets the others pass a vehicle that has stood in a junction that long.
"""

from __future__ import annotations

from typing import Any

from sim.junction_box import JunctionBox

DEADLOCK_SAMPLE_S = 30.0  # seconds between two readings of the junctions' internal lanes


class DeadlockWatch:
    """See the module docstring; the runner calls :meth:`update` every ``DEADLOCK_SAMPLE_S``."""

    def __init__(self, box: JunctionBox, stuck_s: float) -> None:
        self.stuck_s = float(stuck_s)
        seen: dict[str, int] = {}
        for s, per_link in enumerate(box.lanes):
            for lanes in per_link:
                for lane in lanes:
                    seen.setdefault(lane, s)
        self.lanes = tuple(seen.items())  # (internal lane, signal index)
        self.signal_ids = box.layout.signal_ids
        self.longest_s = 0.0
        self.blocked_junction: str | None = None
        self.blocked_lane: str | None = None
        self.blocked_at_s: float | None = None

    def update(self, api: Any, time_s: float) -> None:
        """Read the internal lanes (``api``: libsumo or traci) at simulation time ``time_s``."""
        halting = api.lane.getLastStepHaltingNumber
        for lane, s in self.lanes:
            if not halting(lane):
                continue
            for veh in api.lane.getLastStepVehicleIDs(lane):
                waited_s = float(api.vehicle.getWaitingTime(veh))
                self.longest_s = max(self.longest_s, waited_s)
                if self.blocked_at_s is None and waited_s >= self.stuck_s:
                    self.blocked_junction = self.signal_ids[s]
                    self.blocked_lane = lane
                    self.blocked_at_s = time_s - waited_s

    def report(self) -> dict[str, Any]:
        return {
            "blocked_junction": self.blocked_junction,
            "blocked_lane": self.blocked_lane,
            "blocked_at_s": self.blocked_at_s,
            "junction_stuck_longest_s": self.longest_s,
        }
