"""A single parameter server on its own port (Li et al. 2014, without sharding).

Every worker pushes its whole gradient S to the server, which sums them and sends the
result back: two phases of N concurrent flows through the server's one port,
2·(α + N·S/B) (:func:`dpsim.analytic.collectives.parameter_server_time`). The server is
endpoint ``world`` (:attr:`dpsim.sim.cluster.Cluster.server_rank`); it starts sending
only after all pushes have arrived.
"""

from __future__ import annotations

import numpy as np

from dpsim.sim.collectives.base import Phase, Schedule

__all__ = ["parameter_server_allreduce"]


def parameter_server_allreduce(world: int, per_node: int = 1) -> Schedule:
    """Push to and pull from one server (endpoint ``world``)."""
    if world <= 1:
        return Schedule("parameter-server", world + 1)
    workers = np.arange(world)
    server = np.full(world, world)
    return Schedule("parameter-server", world + 1, (Phase.of(workers, server, 1.0), Phase.of(server, workers, 1.0)))
