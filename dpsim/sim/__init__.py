"""dpsim.sim: the discrete-event cluster simulator (engine ``"sim"``).

:func:`simulate` runs one training step of a :class:`~dpsim.scenario.Scenario` on a
simulated cluster — workers in nodes, full-duplex links shared max-min fairly, collective
algorithms as schedules of point-to-point transfers — and returns the same
:class:`~dpsim.records.StepResult` as the analytic engine (``engine="sim"``, with the
fidelity used and per-worker records in ``extra``). :func:`simulate_timeline` also returns
the :class:`~dpsim.sim.timeline.Timeline` of the step for :mod:`dpsim.sim.trace`.

Modules: :mod:`~dpsim.sim.links`, :mod:`~dpsim.sim.topology`, :mod:`~dpsim.sim.cluster`
(the machine); :mod:`~dpsim.sim.network` (flows sharing links); :mod:`~dpsim.sim.collectives`
(one module per algorithm); :mod:`~dpsim.sim.chunk` and :mod:`~dpsim.sim.fast` (the two
fidelities, :mod:`~dpsim.sim.fidelity` chooses); :mod:`~dpsim.sim.worker`,
:mod:`~dpsim.sim.training` (the step); :mod:`~dpsim.sim.variability`; :mod:`~dpsim.sim.trace`.
"""

from __future__ import annotations

from dpsim.sim.simulate import simulate, simulate_timeline
from dpsim.sim.timeline import Interval, Timeline

__all__ = ["Interval", "Timeline", "simulate", "simulate_timeline"]
