"""What each candidate mechanism predicts for ``calib_two_a_node.py``'s grid, priced from a profile alone (no root).

    PYTHONPATH=. python benchmarks/results/two-a-node-2026-12-07/mechanisms.py RECORDS.json|grid PROFILE.yaml

Written at stop 50 BEFORE the measurement ran (``premech.txt``: this script on the grid with stop 49's two profiles).
Nothing here is fitted to the grid: every term comes from the profile (its links, host model, reduction rate).

Per point (b = the bytes one ring step carries: S/N for the flat ring and gloo's ring; hierarchical's intra step S/G,
its inter step S/(G·M)):

- ``P0``: today's analytic price (``dpsim collective``: ``flat_link``'s ``max(α_i, α_e)·s`` a step for a flat ring with
  two ranks a node, ``hierarchical_allreduce_time`` for hierarchical), and its latency share ``α·steps``.
- ``A`` (serial add): the p2p ring (``runtime/collectives/ring.py``) receives a whole chunk, then ``add_``s it, then
  posts the next step; gloo's own ring reduces one segment while the next is in flight (``gloo/allreduce.cc``
  ``ring()``), so only the p2p collectives pay it. ``A = P0 + Σ_reduce-scatter steps b·s(N)/R``, R the profile's
  ``reduction_bandwidth`` and s(N) the host's share (:meth:`dpsim.calibration.HostModel.comm_share`, every rank adding
  at once). backend: ``A = P0``.
- ``W`` (wire-bound step): each step costs the wire hop alone, ``α_e + b/B_e`` (the loopback hop hides behind it),
  hierarchical unchanged: what the step costs if the two-a-node ring paid no more than the one-a-node ring a step.
- ``H`` (two concurrent cross-node rings a node, hierarchical only): the G inter rings of a node share the wire,
  which is work-conserving, so their bandwidth term is today's (``2(M−1)/M·S/B``), and the host's share of the G·M
  ranks already scales each one's α (``phase_shared_inter_link``, ``streams = G``): this mechanism predicts P0, i.e.
  no miss. Not a column: H = P0.
- ``K`` (host work per byte in series with the wire, every algorithm): each step's bytes pay the wire and the host's
  work per byte one after the other instead of the smooth maximum of the two (``LinkModel.per_byte_s``), and the
  step's latency is the wire link's α alone (no host share: a large step hides the wake-up chain, as the
  one-a-node ring points of 2 MiB and more show): ``K = steps·α_e + c·S·(1/(η·R) + κ(R))`` with c the busiest
  node's wire bytes over S (as ``wire``), κ(R) the inter link's ``host_per_byte`` at the rate; hierarchical adds its
  intra phases as today (``2·[(G−1)α_i + (G−1)/G·S/B_i]``). κ·S at 9.45 MB is 11.3 ms: the size of hierarchical
  2 x 2's stored miss.

``meas`` and ``wire`` as in ``analyse.py`` (ideal wire ``c·S/(η·R)``); ``err %`` each form against the measurement.
"""

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from dpsim.analytic.step import calibrated_fabric
from dpsim.calibration import profile_for

_spec = importlib.util.spec_from_file_location("analyse", Path(__file__).with_name("analyse.py"))
assert _spec is not None and _spec.loader is not None
analyse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(analyse)


def forms(tmp: Path, profile: Path, nodes: int, per_node: int, rate: float, algorithm: str, size: int) -> dict:
    scenario, p0 = analyse.priced_point(tmp, profile, nodes, per_node, rate, algorithm, size)
    prof = profile_for(scenario)
    fabric = calibrated_fabric(scenario, prof)
    n, g, m = nodes * per_node, per_node, nodes
    host = prof.host_model
    share = host.comm_share if host is not None else (lambda k: 1.0)
    red = float(prof.reduction_bandwidth)
    intra, inter = fabric.intra, fabric.inter
    link = prof.link("inter", "ring" if algorithm == "hierarchical" else algorithm, rate, 1.0)
    kappa = prof.links["inter"]["ring" if algorithm == "hierarchical" else algorithm].host_per_byte_at(rate)
    steps, c = analyse.steps_and_bytes(algorithm, nodes, per_node)
    serial = c * size * (1 / (analyse.ETA * rate) + kappa)
    if algorithm == "hierarchical":
        latency = 2 * (g - 1) * intra.latency_s + 2 * (m - 1) * inter.latency_s
        adds = ((g - 1) * size / g + (m - 1) * size / (g * m)) * share(n) / red
        wire_form = float("nan")
        k = 2 * (m - 1) * link.latency_s + serial + 2 * (g - 1) * (intra.latency_s + size / g / intra.bandwidth)
    else:
        b = size / n
        latency = 2 * (n - 1) * max(intra.latency_s, inter.latency_s)
        adds = (n - 1) * b * share(n) / red if algorithm != "backend" else 0.0
        wire_form = 2 * (n - 1) * (inter.latency_s + b / inter.bandwidth)
        k = steps * link.latency_s + serial
    return {"P0": p0, "lat": latency, "A": p0 + adds, "W": wire_form, "K": k}


def main() -> None:
    with analyse.inputs() as (records, profile, tmp):
        print(f"{'config':>6} {'Mbit/s':>6} {'algorithm':>12} {'size B':>9} {'b/step KB':>9} {'meas ms':>8} "
              f"{'wire ms':>8} {'P0 ms':>8} {'α·steps':>8} {'A ms':>8} {'W ms':>8} {'K ms':>8} "
              f"{'P0 %':>6} {'A %':>6} {'W %':>6} {'K %':>6}")  # fmt: skip
        for nodes, per_node, rate, alg, size, t, _, wire in analyse.points(records):
            f = forms(tmp, profile, nodes, per_node, rate, alg, size)
            step_bytes = size / (nodes * per_node)  # hierarchical: its inter step; its intra step is S/G
            errs = " ".join(f"{100 * (f[k] - t) / t:+6.1f}" for k in ("P0", "A", "W", "K"))
            print(f"{nodes}x{per_node:<4} {rate * 8e-6:6.0f} {alg:>12} {size:9d} {step_bytes / 1e3:9.1f} "
                  f"{t * 1e3:8.2f} {wire * 1e3:8.2f} {f['P0'] * 1e3:8.2f} {f['lat'] * 1e3:8.2f} {f['A'] * 1e3:8.2f} "
                  f"{f['W'] * 1e3:8.2f} {f['K'] * 1e3:8.2f} {errs}")  # fmt: skip


if __name__ == "__main__":
    main()
