"""Hardware profiles measured by ``dpsim calibrate``: fitted α–β links, compute and optimizer times.

A profile replaces catalog numbers with measurements from the runtime (torch-free here,
so the simulator can read it without torch). It holds:

- per link class (``intra`` | ``inter``) and all-reduce algorithm, the latency α and the
  bandwidth B fitted by least squares to measured collective times on the closed forms of
  :mod:`dpsim.analytic.collectives` (Hockney's α–β model; Thakur, Rabenseifner & Gropp 2005).
  Because every closed form there is *linear* in (α, 1/B) — ``t = a(N)·α + b(N, S)·(1/B)`` —
  the fit is an ordinary linear least-squares problem (:func:`fit_link`);
- the backend's reduction (summation) bandwidth in bytes/s, the γ term of Thakur et al.;
- forward and backward time of one micro-batch on one worker, ``t = t0 + t1·micro_batch``
  (for the model a scenario named), and — describing the testbed rather than one model — a
  compute curve: time per FLOP of square MLP layers measured over a grid of widths and
  micro-batch sizes (:class:`ComputeCurve`), from which any ``layers × hidden`` MLP and
  micro-batch is predicted;
- optimizer time, ``t = o0 + o1·parameters`` (its state streamed from memory, as a training
  step finds it: what prices it), and for MLPs the time per parameter over the compute curve's
  widths right after a backward (``optimizer_curve``: warm caches; kept, not priced);
- the host (:class:`HostModel`): how much slower a rank computes when ``k`` ranks share the
  host's cores (``max(1, k/C)·(1 + ε·(k − 1))``: time-slicing beyond ``C`` cores, and ε
  lost per further process to shared caches, memory bandwidth and context switches), how
  the host's time per byte communicated grows with the processes communicating at once
  (measured in pairs), the CPU the communication takes per byte sent, which competes
  with the backward pass it overlaps, and how many memory-bound optimizer steps the host
  runs at one step's speed (``max(1, k/M)``: the ranks' steps share its memory bandwidth);
- for a link on a shared host (the emulated testbed: tbf-shaped veths, every rank on one
  machine), how the time per byte follows the shaped rate and the ranks sharing the host:
  ``((1/(η·R))^p + (κ·s(n))^p)^(1/p)`` — η the payload share of the shaped rate (tbf counts
  whole frames), κ the host's time per byte, ``s(n)`` the host's measured communication
  share, p how sharply wire and host work pipeline — so rates and rank counts never
  calibrated are predicted (:meth:`LinkModel.at_rate`; older profiles: ``1/(η·R) + c``).

Every fit records its worst relative residual; :func:`check_residuals` turns one above the
limit (5 % by default) into an error that says what to do.

The YAML file carries units (``"118 MB/s"``, ``"85 us"``) and reloads to an equal object.
Engines call :func:`profile_for` when ``scenario.calibration`` is set and put the profile
path into ``StepResult.hardware_source``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dpsim.allocator import first_touch_seconds, optimizer_fresh_bytes
from dpsim.analytic import collectives as cf
from dpsim.analytic.collectives import Link, LinkSegment, algorithm_of
from dpsim.errors import ScenarioError, did_you_mean, safe_text
from dpsim.inputs import MIN_FRACTION, brief, float_problem, printable_name
from dpsim.units import UnitError, parse_bandwidth, parse_size, parse_time

if TYPE_CHECKING:
    from dpsim.scenario import Scenario

__all__ = [
    "BEYOND_SCATTER",
    "CALIBRATE_ADVICE",
    "COLLECTIVE_OPS",
    "FIT_ADVICE",
    "FIT_ALGORITHMS",
    "LINK_CLASSES",
    "MAX_RESIDUAL",
    "PACE_ADVICE",
    "PACE_PROBE_KEYS",
    "REFERENCE_PACE",
    "WORST_POINT_FIELDS",
    "CalibrationError",
    "CollectiveSample",
    "ComputeCurve",
    "ComputePoint",
    "HardwareProfile",
    "HostModel",
    "LinearTime",
    "LinkFit",
    "LinkModel",
    "LinkSegment",
    "bucket_ready_fractions",
    "bus_bandwidth",
    "calibration_pace_s",
    "check_residuals",
    "closed_form_coefficients",
    "collective_coefficients",
    "fit_coefficients",
    "fit_coefficients_minimax",
    "fit_host",
    "fit_linear_time",
    "fit_link",
    "fit_link_model",
    "fit_memory_streams",
    "host_residual",
    "load_profile",
    "pace_drift",
    "pace_kept_probes",
    "pace_problem",
    "profile_for",
    "profile_link_name",
    "profile_mismatch",
    "profile_replaces_links",
    "residuals_above",
    "save_profile",
    "sharing_residual",
    "within_scatter",
    "worst_point_note",
]

COLLECTIVE_OPS = ("all_reduce", "all_gather", "reduce_scatter")
"""Collectives a profile can hold fitted curves for (``HardwareProfile.collectives``)."""

LINK_CLASSES = ("intra", "inter")
"""Link classes a profile can calibrate: inside a node, and between nodes."""

FIT_ALGORITHMS = ("ring", "tree", "halving-doubling", "direct", "parameter-server", "backend")
"""Flat all-reduce algorithms whose closed form :func:`fit_link` can invert (hierarchical combines two links)."""

MAX_RESIDUAL = 0.05
"""Largest accepted relative residual of a fit (5 %): beyond it the model does not explain the data."""


class CalibrationError(ValueError):
    """A fit does not explain its measurements (residual above the limit); the message says what to do."""


@dataclass(frozen=True)
class CollectiveSample:
    """One measured collective: ``ranks`` ranks all-reducing ``size_bytes`` took ``time_s`` (median)."""

    algorithm: str
    ranks: int
    size_bytes: float
    time_s: float
    link_class: str = "inter"


@dataclass(frozen=True)
class LinkFit:
    """A fitted α–β link and how well the closed form explains the samples."""

    link: Link
    samples: int
    max_relative_error: float
    """Largest |predicted − measured| / measured over the samples used in the fit."""


@dataclass(frozen=True)
class LinkModel(Link):
    """A fitted link: α, the bandwidth measured, and how both follow a shaped rate and a shared host.

    ``bandwidth`` is the fitted bandwidth at the calibration's (highest) shaped rate, or the
    unshaped link's, with one pair of ranks' share of the host. Two forms:

    - with ``sharpness`` p set (the testbed form): a byte costs the wire ``1/(η·R)`` at the
      payload share η of the shaped rate ``R``, and the host ``κ·s(n)``: κ the time the host
      needs per byte a rank sends (gloo's copies and reduction, the kernel's TCP, veth and
      bridge work) with one pair of ranks communicating, ``s(n) = max(1, n/C)·(1 + ε·(n − 1))`` how
      much that grows when ``n`` ranks communicate at once on ``C`` cores (:meth:`HostModel.comm_share`).
      Wire and host work pipelined, so the time per
      byte is their p-norm ``(w^p + h^p)^(1/p)`` — the larger one for large p, their sum for
      p = 1. α is a per-step cost paid on the host too: ``α·s(n)``. Where no shaper paces the link
      (the intra-node loopback), the wire's place is taken by ``w`` (:attr:`pair_per_byte_s`), one
      pair's own pace with the host to itself;
    - without (older profiles): ``1/B(R) = 1/(η·R) + c`` (c = ``cpu_per_byte_s``).
    """

    efficiency: float | None = None
    cpu_per_byte_s: float = 0.0
    residual: float = 0.0
    """Largest relative residual of the fit over its samples."""
    samples: int = 0
    host_per_byte_s: float = 0.0
    """κ: host time per byte a rank sends while one pair of ranks communicates on the host."""
    sharpness: float | None = None
    """p of the p-norm combining wire and host time per byte (None: the older series form)."""
    host_per_byte_by_rate: tuple[tuple[float, float], ...] = ()
    """(shaped rate, κ) per calibrated rate, ascending: the host's work per byte follows how the shaper
    paces the traffic; κ at other rates is interpolated in log rate and held beyond the ends."""
    latency_residual: float = 0.0
    """Median relative error over the small messages α is fitted on (shared-host fits; there the
    residual is the worst over the large messages the bandwidth terms are fitted on)."""
    pair_per_byte_s: float = 0.0
    """w: time per byte of one pair's stream where no shaper paces it (the intra-node loopback), with the host's
    cores to itself: the p-norm's wire term there, which the host share does not stretch (0: none, the older form).

    gloo's TCP pair moves a message as a chain (``gloo/transport/tcp/pair.cc``): ``Pair::send`` writes only once
    the peer's ``NOTIFY_RECV_READY`` has arrived (``handleRemotePendingRecv`` → ``sendUnboundBuffer``), the
    sender's thread copies the bytes into the socket (``sendAsyncMode`` → ``write``) and the receiver's device
    thread copies them out (``handleReadWrite`` → ``read``). Each rank's threads wait on the other side's half, so
    one pair alone does not keep its cores busy: on the 2-core VM two ranks' intra-node all-reduces ran at
    0.89 ns per byte with their own CPU 0.66 ns (0.75 of a core each; 17 calibrations' medians), while four ranks,
    which fill each other's waits, ran at what the cores' sharing says. Without ``w`` the fit's κ·s(n) must
    price both: two ranks came out 28 % fast and four 19 % slow (the ring at 8 MiB, mean of 17 calibrations)."""

    def host_per_byte_at(self, rate: float | None) -> float:
        """κ at shaped rate ``rate``: :attr:`host_per_byte_by_rate` interpolated in log rate, else the one κ."""
        if rate is None or not self.host_per_byte_by_rate:
            return self.host_per_byte_s
        return _log_interp([r for r, _ in self.host_per_byte_by_rate], [k for _, k in self.host_per_byte_by_rate],
                           rate)  # fmt: skip

    def per_byte_s(self, rate: float | None, share: float = 1.0, streams: int = 1) -> float:
        """Time per byte sent at shaped rate ``rate`` (None: as calibrated) with host work ``share`` times slower
        and ``streams`` senders sharing the wire."""
        if self.sharpness is None:
            if self.efficiency is None or rate is None:
                return 1.0 / self.bandwidth
            return 1.0 / (self.efficiency * rate) + self.cpu_per_byte_s
        wire = self._wire_per_byte(rate, streams)
        host = self.host_per_byte_at(rate) * share
        p = self.sharpness
        norm = float((wire**p + host**p) ** (1.0 / p)) if p <= 16 else 0.0
        if not norm > 0 and max(wire, host) > 0:  # a large p under- or overflows: scale by the larger term
            top = max(wire, host)
            norm = top * float(((wire / top) ** p + (host / top) ** p) ** (1.0 / p))
        return norm + self.cpu_per_byte_s

    def _wire_per_byte(self, rate: float | None, streams: int = 1) -> float:
        """The p-norm's wire term: ``streams/(η·R)`` on a shaped link at rate ``rate`` (its senders share the
        wire), else ``w`` (:attr:`pair_per_byte_s`, each pair's own pace; 0 on the older form)."""
        if self.efficiency is not None and rate is not None:
            return streams / (self.efficiency * rate)
        return self.pair_per_byte_s if self.efficiency is None else 0.0

    def at_rate(self, rate: float | None, share: float = 1.0, streams: int = 1) -> Link:
        """The α–β link at shaped rate ``rate`` (bytes/s), host work ``share`` times slower than one pair's.

        ``share`` is :meth:`HostModel.comm_share` of the ranks on the host (1 for an older profile's link).
        ``streams`` ranks of a node sending across it at once share its wire (the engines divide the
        node's bandwidth among them) but not the host's work, which ``share`` already counts: the
        node's bandwidth is ``streams / ((streams/(η·R))^p + (κ·s)^p)^(1/p)``.
        """
        if self.sharpness is None:
            share = 1.0
            if self.efficiency is None or rate is None:
                return Link(self.latency_s, self.bandwidth)
        elif self.efficiency is not None and rate is None:
            return Link(self.latency_s * share, self.bandwidth)
        if self.sharpness is not None and streams > 1:
            return Link(self.latency_s * share, streams / self.per_byte_s(rate, share, streams))
        return Link(self.latency_s * share, 1.0 / self.per_byte_s(rate, share))


@dataclass(frozen=True)
class ComputePoint:
    """Forward and backward time of ``layers`` square linear layers of width ``hidden`` on ``micro_batch`` samples."""

    hidden: int
    micro_batch: int
    layers: int
    forward_s: float
    backward_s: float

    @property
    def forward_flops(self) -> float:
        """GEMM FLOPs of the forward pass: 2·micro_batch·hidden² per layer."""
        return 2.0 * self.micro_batch * self.hidden**2 * self.layers


@dataclass(frozen=True)
class ComputeCurve:
    """Time per FLOP of square MLP layers over a grid of (hidden, micro_batch), measured alone on the host.

    A GEMM's throughput depends on its shape (small GEMMs are dominated by per-call overhead
    and do not fill the cores' vector units), so the curve is interpolated bilinearly in
    (log hidden, log micro_batch) on log time-per-FLOP and held at the grid's edge outside
    it. A ``layers × hidden`` MLP on ``b`` samples then costs ``2·b·hidden²·layers`` forward
    FLOPs at the curve's rate (backward likewise, with its own curve).
    """

    points: tuple[ComputePoint, ...]

    def __post_init__(self) -> None:
        hs, ms = self.hiddens, self.micro_batches
        grid = {(p.hidden, p.micro_batch) for p in self.points}
        if not self.points or len(grid) != len(hs) * len(ms) or len(grid) != len(self.points):
            raise ValueError("a compute curve needs exactly one point per (hidden, micro_batch) of a full grid")

    @property
    def hiddens(self) -> list[int]:
        return sorted({p.hidden for p in self.points})

    @property
    def micro_batches(self) -> list[int]:
        return sorted({p.micro_batch for p in self.points})

    def _per_flop(self, hidden: float, micro_batch: float, backward: bool) -> float:
        table = {(p.hidden, p.micro_batch): (p.backward_s if backward else p.forward_s) / p.forward_flops
                 for p in self.points}  # fmt: skip

        def bracket(values: list[int], x: float) -> tuple[int, int, float]:
            x = min(max(x, values[0]), values[-1])
            hi = next(i for i, v in enumerate(values) if v >= x)
            lo = max(0, hi - 1) if values[hi] > x else hi
            if lo == hi:
                return lo, hi, 0.0
            return lo, hi, (math.log(x) - math.log(values[lo])) / (math.log(values[hi]) - math.log(values[lo]))

        hs, ms = self.hiddens, self.micro_batches
        h0, h1, wh = bracket(hs, hidden)
        m0, m1, wm = bracket(ms, micro_batch)
        logs = 0.0
        for hi, whi in ((h0, 1 - wh), (h1, wh)):
            for mi, wmi in ((m0, 1 - wm), (m1, wm)):
                logs += whi * wmi * math.log(table[(hs[hi], ms[mi])])
        return math.exp(logs)

    def time(self, layers: int, hidden: int, micro_batch: int) -> tuple[float, float]:
        """(forward_s, backward_s) of ``layers`` layers of width ``hidden`` on ``micro_batch`` samples."""
        if micro_batch <= 0:
            return 0.0, 0.0
        flops = 2.0 * micro_batch * hidden**2 * layers
        return (flops * self._per_flop(hidden, micro_batch, False), flops * self._per_flop(hidden, micro_batch, True))


@dataclass(frozen=True)
class HostModel:
    """How ranks share one host's CPUs (the emulated testbed runs every rank on one machine).

    ``slowdown(k)`` — compute time of one rank while ``k`` ranks compute at once, relative
    to alone — is ``max(1, k/C)·(1 + ε·(k − 1))``: beyond ``C`` cores the scheduler
    time-slices (processor sharing), and every further process on the host costs each one ε
    more (shared caches and memory bandwidth, context switches refilling them).

    ``comm_share(k)`` — host time per byte communicated while ``k`` ranks communicate at
    once, relative to one pair — is the same form with the communication's own ε
    (:attr:`comm_efficiency_loss`, 0 from calibration: processor sharing alone). ``comm_cpu_per_byte_s``
    is the host CPU time per byte a rank sends (gloo's copies and reduction, the kernel's TCP
    stack); during overlap it competes with the backward pass.
    """

    cores: float
    efficiency_loss: float = 0.0
    shared_by: str = "job"
    """Which ranks share one host: 'job' (all of them: the emulated cluster) or 'node'."""
    comm_cpu_per_byte_s: float = 0.0
    measured: Mapping[int, float] = field(default_factory=dict)
    """Measured slowdown per number of concurrent processes."""
    residual: float = 0.0
    memory_streams: float | None = None
    """M of ``max(1, k/M)`` fitted on k processes stepping an optimizer back to back (:func:`fit_memory_streams`):
    how many memory-bound streams the host would serve at one stream's speed; kept, not priced
    (:meth:`optimizer_slowdown`). None: not measured."""
    optimizer_measured: Mapping[int, float] = field(default_factory=dict)
    """Measured slowdown of ``optimizer.step()`` per number of processes stepping at once."""
    optimizer_residual: float = 0.0
    """Worst relative residual of what the engines price, ``max(1, k/C)`` at :attr:`cores` with no loss
    (:meth:`optimizer_slowdown`), on :attr:`optimizer_measured` (:func:`sharing_residual`): the ``host.optimizer``
    residual the limit holds. ``meta.host_optimizer_fit`` records beside it :func:`fit_host`'s free fit of the same
    points (its own C and ε, not priced). Until stop 46 the residual of ``max(1, k/M)`` through the lone process's
    point (24–42 % in every calibration of stops 44–45, mostly glibc's page-fault lottery among the workers:
    ``runtime.calibrate.HEAP_KEPT_ENV``)."""
    comm_cpu_per_byte_by_rate: tuple[tuple[float, float], ...] = ()
    """(shaped rate, κ) ascending: the host's CPU work per byte a rank sends at that rate, which the
    backward's overlap window charges (:meth:`comm_cpu_per_byte_at`); empty: ``comm_cpu_per_byte_s``."""
    page_fault_s: float = 0.0
    """CPU seconds of one minor page fault: the kernel mapping and zeroing a page a process first touches
    (:data:`dpsim.allocator.PAGE_BYTES`); what the optimizer pays per page glibc maps afresh each step
    (:func:`dpsim.allocator.optimizer_fresh_bytes`). 0: not measured."""
    comm_efficiency_loss: float | None = None
    """ε of :meth:`comm_share`: what each further process communicating on the host costs the others' host
    work per byte. Calibration writes 0 (:func:`runtime.calibrate.refit_links`: the host's busy time per byte and
    rank does not grow with the ranks); a profile may give another; None (older profiles): the compute's
    :attr:`efficiency_loss`."""
    measured_slowest: Mapping[int, float] = field(default_factory=dict)
    """Slowdown of the slowest of the k processes computing at once (the largest of their median iteration
    times over k = 1's), per k: the estimator of the runtime's critical rank (:mod:`runtime.measure` takes the
    rank of largest median compute), beside :attr:`measured`'s median over the k. Empty: not recorded (older
    profiles); recorded, not priced."""
    optimizer_measured_slowest: Mapping[int, float] = field(default_factory=dict)
    """As :attr:`measured_slowest`, for k processes stepping the optimizer at once."""

    def slowdown(self, processes: int) -> float:
        return self._shared(processes, self.efficiency_loss)

    def _shared(self, processes: float, loss: float) -> float:
        """Processor sharing of the host's cores with a loss of ``loss`` per further process:
        ``max(1, k/C)·(1 + loss·(k − 1))``, the form of :meth:`slowdown` and :meth:`comm_share`."""
        k = max(1, processes)
        return max(1.0, k / self.cores) * (1.0 + loss * (k - 1.0))

    def slowest_loss(self) -> float | None:
        """ε_s of the slowest of k processes computing at once: the least squares (relative) ε ≥ 0 of
        ``max(1, k/C)·(1 + ε·(k − 1))`` on :attr:`measured_slowest` at the compute's C, over the points where C
        divides k (or k ≤ C; k ≥ 2). Where it does not (3 processes on 2 cores) the slowest of the calibration's
        free-running processes is the one its core shares with another for the whole run (:func:`fit_host`'s band),
        which training ranks, meeting at every synchronisation, do not keep (the critical rank's compute over its own
        CPU time is 0.99 / 1.01 × k/C in the 17 stored groups that record the slowest, odd k alike). Closed form: the
        model is linear in ε. None: nothing recorded (older profiles)."""
        c = self.cores
        points = [(k, v) for k, v in sorted(self.measured_slowest.items())
                  if k >= 2 and (k <= c or k % c == 0) and math.isfinite(v) and v > 0]  # fmt: skip
        if not points:
            return None
        x = np.array([max(1.0, k / c) * (k - 1.0) / v for k, v in points])
        y = np.array([1.0 - max(1.0, k / c) / v for k, v in points])
        return max(0.0, float(np.dot(x, y) / np.dot(x, x)))

    def critical_pace(self, processes: int) -> float:
        """How much longer the slowest of ``processes`` ranks computing at once takes than the others (their median):
        ``(1 + ε_s·(k − 1)) / (1 + ε·(k − 1))`` (:meth:`slowest_loss` over the median's :attr:`efficiency_loss`),
        at least 1; 1 without a recorded slowest (older profiles).

        The engines price the critical rank, the one every rank waits for at the gradient synchronisation and the
        one :mod:`runtime.measure` reports (largest median compute), at processor sharing of its own work
        (:meth:`slowdown`): the last of k time-sliced ranks ends when the cores have done the work. The others,
        served unevenly by the scheduler, end earlier by this ratio, and wait the difference inside their
        gradient synchronisation: the runtime's barrier (:func:`dpsim.analytic.step.host_critical`)."""
        loss = self.slowest_loss()
        if loss is None:
            return 1.0
        k = max(1, processes)
        return max(1.0, (1.0 + loss * (k - 1.0)) / (1.0 + self.efficiency_loss * (k - 1.0)))

    def optimizer_slowdown(self, processes: int) -> float:
        """Optimizer step time with ``processes`` ranks stepping at once, relative to alone: ``max(1, k/C)``.

        The steps take turns on the C cores; they do not share the memory bandwidth: on the emulated
        cluster each rank's optimizer CPU per parameter is flat from 2 to 8 ranks (4.3–5.9 ns, 2026-12-05),
        and a cold step alone or beside a second one takes 4.6 / 4.7 ns (``benchmarks/optimizer_share.py``).
        ``memory_streams`` (``max(1, k/M)`` fitted on k processes stepping back to back, M = 1.3–1.9 there)
        is measured and kept, not priced.
        """
        return self._shared(processes, 0.0)

    def comm_share(self, processes: float) -> float:
        """Host time per byte with ``processes`` communicating at once, relative to one pair.

        Processor sharing: every rank's communication needs the host's work per byte it sends
        (``κ``); with more ranks than cores they take turns, and every further process costs each
        one ``ε_c`` more: ``max(1, k/C)·(1 + ε_c·(k − 1))``. ``ε_c`` is the communication's own
        (:attr:`comm_efficiency_loss`, 0 from calibration), not the compute's, which
        measures processes multiplying matrices at once (0.004–0.059 from session to session on the
        2-core VM; 8 ranks at 1 Gbit/s were over-predicted by 20–45 % with it). Older profiles without
        ε_c use the compute's ε.
        """
        return self._shared(
            processes, self.efficiency_loss if self.comm_efficiency_loss is None else self.comm_efficiency_loss
        )

    def ranks_on_host(self, scenario: Scenario) -> int:
        return scenario.world_size if self.shared_by == "job" else scenario.cluster.workers_per_node

    def fair_level(self, computing: float, senders: float, busy: float) -> float:
        """The share of a core each thread that wants more gets while ``computing`` threads want a whole core and
        ``senders`` threads want ``busy`` of one (max-min fairness on the :attr:`cores`; ``inf``: no one waits).

        Linux's fair scheduler (EEVDF, ``kernel/sched/fair.c`` since 6.6: ``place_entity`` keeps a task's lag
        across its sleep, ``pick_eevdf`` runs the eligible task of earliest virtual deadline) gives every
        runnable thread an equal share, and a thread that sleeps on its socket most of the time (a sender
        whose traffic the wire paces: gloo's threads waiting in ``recv``/``epoll_wait``, ``gloo/transport/tcp/
        pair.cc``) is owed what it did not use: it asks for less than its share and is served all it asks
        for; the cores it leaves are shared by the others. The level ``L`` solves ``N·min(1, L) +
        M·min(u, L) = C``: ``(C − M·u)/N`` where the senders' ``u`` fits under it, else ``C/(N + M)``
        (everyone equal). Where the senders are themselves bound by the host (``u`` near 1, the host-bound
        testbed of stops 36–40: tbf segmenting every skb in the sender's system call) it is processor sharing
        as before; where the wire paces them (``u`` small) they keep their pace and the backward gets the rest.
        """
        n, m, c = max(0.0, computing), max(0.0, senders), self.cores
        if n + m * busy <= c:
            return math.inf
        if (n + m) * busy <= c:
            return (c - m * busy) / n
        if n + m < c:  # a sender asking more than a core (u > 1): the backward threads are served whole, the rest
            return (c - n) / m  # to the senders (C/(N + M) > 1 handed them less and left cores idle)
        return c / (n + m)

    def comm_cpu_per_byte_at(self, rate: float | None) -> float:
        """κ at shaped rate ``rate``: :attr:`comm_cpu_per_byte_by_rate` interpolated in log rate (held
        beyond the ends), else ``comm_cpu_per_byte_s``."""
        if rate is None or not self.comm_cpu_per_byte_by_rate:
            return self.comm_cpu_per_byte_s
        table = self.comm_cpu_per_byte_by_rate
        return _log_interp([r for r, _ in table], [k for _, k in table], rate)


def fit_host(measured: Mapping[int, float], max_cores: int) -> HostModel:
    """C (whole cores, 1..max_cores) and ε ≥ 0 of :meth:`HostModel.slowdown`, least squares in relative terms.

    C is a whole number: with fractional C the points ``k ≥ C`` only fix ``(1 + ε(k−1))/C``
    and C and ε could trade off against each other. The residual is the worst relative one.

    What a measured point is (:func:`runtime.calibrate.measure_host`: the median over the k
    processes of each one's median iteration time, over the lone process's):

    - **k not a multiple of C** (3 processes on 2 cores): Linux keeps one run queue per core and
      its load balancer leaves ⌈k/C⌉ processes on some cores and ⌊k/C⌋ on the others (moving one
      would only swap the imbalance), so each process runs at its own core's share and the median
      over processes is one of the two levels, by where they landed: the point lies in
      ``[max(1, ⌊k/C⌋), ⌈k/C⌉]·(1 + ε(k−1))`` (its residual is the distance outside that band) and
      says nothing finer about the processor sharing ``k/C`` the engines price (training ranks
      meet at every synchronisation, where a rank that finished early leaves its core idle and
      the balancer pulls a waiting one there). Measured at k = 3 on the 2-core VM: 1.19–2.03 in
      14 calibrations, where k = 4 spread 1.96–2.63;
    - **k = 1** is a measurement like the others, not the exact 1.0 every ratio is divided by:
      the fit scales the model by ``s`` (the lone process's time over the one the others
      imply) instead of pinning it through that single point. 5 of those 14 calibrations
      measured 2 processes on 2 cores faster than one alone (0.80–0.97), which the model
      (ε ≥ 0) cannot give with ``s = 1``. ``s`` is not priced: the compute curve is timed alone
      separately, and the slowdown that multiplies it is the model's ``max(1, k/C)·(1 + ε(k−1))``.

    The fit minimises the sum of squared relative residuals over (C, ε, s): s by ternary search
    (the sum is convex in s for given C and ε), ε on a grid of 0.001 refined by golden-section
    search; ties keep the smaller C.
    """
    if not measured or 1 not in measured:
        raise ValueError("host calibration needs the slowdown of 1 process (1.0) and of more")
    ks = np.array(sorted(measured), dtype=float)
    ys = np.array([measured[int(k)] for k in ks])
    kept = {int(k): float(v) for k, v in measured.items()}
    if not np.all(np.isfinite(ys) & (ys > 0)):  # a stage with no iteration kept (inf): nothing to fit, refused
        return HostModel(1.0, 0.0, measured=kept, residual=math.inf)
    best: tuple[float, float, float, float] | None = None  # (sum of squares, C, ε, s)
    for cores in range(1, max(1, min(max_cores, int(ks[-1]))) + 1):  # C ≥ the largest k: all alike, the smallest kept
        low, high = _host_band(ks, cores)

        def sse(eps: np.ndarray, low: np.ndarray = low, high: np.ndarray = high) -> tuple[np.ndarray, np.ndarray]:
            grow = 1.0 + eps[:, None] * (ks[None, :] - 1.0)
            lo, hi = low[None, :] * grow, high[None, :] * grow
            a, b = np.full(eps.shape, 0.25), np.full(eps.shape, 4.0)  # s, ternary search (convex)
            for _ in range(_TERNARY_STEPS):
                m1, m2 = a + (b - a) / 3.0, b - (b - a) / 3.0
                worse = _band_sse(ys, lo, hi, m1) > _band_sse(ys, lo, hi, m2)
                a, b = np.where(worse, m1, a), np.where(worse, b, m2)
            s = 0.5 * (a + b)
            return _band_sse(ys, lo, hi, s), s

        grid = np.linspace(0.0, 1.0, 1001)
        values = sse(grid)[0]
        i = int(np.argmin(values))
        left, right = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
        for _ in range(_GOLDEN_STEPS):
            m1, m2 = right - _GOLDEN * (right - left), left + _GOLDEN * (right - left)
            v = sse(np.array([m1, m2]))[0]
            left, right = (m1, right) if v[0] > v[1] else (left, m2)
        candidates = np.array([grid[i], 0.5 * (left + right)])
        values, scales = sse(candidates)
        j = int(np.argmin(values))
        if best is None or values[j] < best[0] - 1e-15:
            best = (float(values[j]), float(cores), float(candidates[j]), float(scales[j]))
    assert best is not None
    _, cores_fit, eps_fit, scale = best
    return HostModel(cores_fit, eps_fit, measured=kept, residual=host_residual(measured, cores_fit, eps_fit, scale))


_TERNARY_STEPS, _GOLDEN_STEPS, _GOLDEN = 80, 60, (math.sqrt(5.0) - 1.0) / 2.0


def sharing_residual(measured: Mapping[int, float], cores: float) -> float:
    """Worst relative residual of the sharing the engines price for the optimizer, ``max(1, k/C)`` at the compute's
    C and no loss per process (:meth:`HostModel.optimizer_slowdown`), on ``measured``: the residual
    ``dpsim calibrate``'s limit holds for ``host.optimizer`` (:attr:`HostModel.optimizer_residual`).

    A point is read as :func:`fit_host` reads one and nothing more is fitted: where C does not divide k the run
    queues' placement (a band), and the lone process's time one measurement among the others (the scale ``s`` of
    least squares). inf for a stage with no iteration kept."""
    if not measured or 1 not in measured:
        raise ValueError("host calibration needs the slowdown of 1 process (1.0) and of more")
    ks = np.array(sorted(measured), dtype=float)
    ys = np.array([measured[int(k)] for k in ks])
    if not np.all(np.isfinite(ys) & (ys > 0)):
        return math.inf
    low, high = _host_band(ks, cores)
    a, b = np.array([0.25]), np.array([4.0])  # s, ternary search (the sum of squares is convex in s)
    for _ in range(_TERNARY_STEPS):
        m1, m2 = a + (b - a) / 3.0, b - (b - a) / 3.0
        worse = _band_sse(ys, low[None, :], high[None, :], m1) > _band_sse(ys, low[None, :], high[None, :], m2)
        a, b = np.where(worse, m1, a), np.where(worse, b, m2)
    return host_residual(measured, cores, 0.0, float(0.5 * (a[0] + b[0])))


def _band_sse(ys: np.ndarray, lo: np.ndarray, hi: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Σ over points of the squared relative distance of ``ys`` outside ``[s·lo, s·hi]``, per row."""
    return np.sum(_band_error(ys, s[:, None] * lo, s[:, None] * hi) ** 2, axis=-1)


def _band_error(ys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Relative distance of ``ys`` outside ``[lo, hi]`` (0 inside; positive where the model is above)."""
    return (np.clip(ys, lo, hi) - ys) / ys


def host_residual(measured: Mapping[int, float], cores: float, efficiency_loss: float, scale: float = 1.0) -> float:
    """Worst relative distance of the measured slowdowns from ``scale·[max(1, ⌊k/C⌋), ⌈k/C⌉]·(1 + ε(k−1))``
    (:func:`fit_host`; a band of one value where C divides k)."""
    ks = np.array(sorted(measured), dtype=float)
    ys = np.array([measured[int(k)] for k in ks])
    if not np.all(np.isfinite(ys) & (ys > 0)):
        return math.inf
    grow = scale * (1.0 + efficiency_loss * (ks - 1.0))
    low, high = _host_band(ks, cores)
    return float(np.max(np.abs(_band_error(ys, low * grow, high * grow))))


def _host_band(ks: np.ndarray, cores: float) -> tuple[np.ndarray, np.ndarray]:
    """The processor sharing of k processes on C cores' run queues: ``max(1, ⌊k/C⌋)`` on the least loaded core,
    ``max(1, ⌈k/C⌉)`` on the most (:func:`fit_host`; one value where C divides k)."""
    return np.maximum(1.0, np.floor(ks / cores)), np.maximum(1.0, np.ceil(ks / cores))


def fit_memory_streams(measured: Mapping[int, float], max_streams: float) -> tuple[float, float]:
    """M in [1, max_streams] of :meth:`HostModel.optimizer_slowdown` (``max(1, k/M)``) and its worst residual.

    Least squares in relative terms over the measured slowdowns, on a fine grid of M (one
    parameter; the slowdown is not linear in it).
    """
    if not measured or 1 not in measured:
        raise ValueError("memory calibration needs the slowdown of 1 process (1.0) and of more")
    ks = np.array(sorted(measured), dtype=float)
    ys = np.array([measured[int(k)] for k in ks])
    grid = np.linspace(1.0, max(1.0, float(max_streams)), 1001)
    model = np.maximum(1.0, ks[None, :] / grid[:, None])
    err = (model - ys[None, :]) / ys[None, :]
    best = int(np.argmin(np.sum(err**2, axis=1)))
    return float(grid[best]), float(np.max(np.abs(err[best])))


@dataclass(frozen=True)
class LinearTime:
    """A time that grows linearly in one quantity: ``fixed_s + per_unit_s · x``."""

    fixed_s: float
    per_unit_s: float

    def __call__(self, x: float) -> float:
        return self.fixed_s + self.per_unit_s * x


def bucket_ready_fractions(curve: Sequence[tuple[float, float]], bucket_bytes: Sequence[float]) -> list[float]:
    """Fraction of the backward elapsed when each bucket is ready, buckets filled in gradient-ready order.

    A DDP bucket is ready when the last of its gradients is (Li et al. 2020, §3.2.3); bucket
    ``i`` closes at the cumulative fraction ``C_i`` of the gradient bytes, so it is ready at
    the measured elapsed fraction of the first parameter whose cumulative bytes reach ``C_i``.
    Without a curve, gradients are ready at a uniform rate: the fraction is ``C_i`` itself.
    """
    total = float(sum(bucket_bytes))
    cumulative = list(itertools.accumulate(float(b) / total for b in bucket_bytes)) if total > 0 else []
    if not curve:
        return cumulative
    xs = [x for x, _ in curve]
    out = []
    for c in cumulative:
        i = min(bisect.bisect_left(xs, c - 1e-9), len(curve) - 1)
        out.append(float(curve[i][1]))
    return out


def closed_form_coefficients(algorithm: str, ranks: int, size_bytes: float) -> tuple[float, float]:
    """(a, b) with ``time = a·α + b·(1/B)`` for a flat all-reduce, read off the closed forms.

    Evaluating the closed form at (α=1, B=∞) gives ``a``; at (α=0, B=1) gives ``b``. This
    keeps the fit and the predicting engines on the very same formula.
    """
    if algorithm not in FIT_ALGORITHMS:
        raise ValueError(f"cannot fit algorithm {algorithm!r}; expected one of {', '.join(FIT_ALGORITHMS)}")
    fabric_lat = cf.Fabric(nodes=ranks, per_node=1, intra=Link(1.0, math.inf), inter=Link(1.0, math.inf))
    fabric_bw = cf.Fabric(nodes=ranks, per_node=1, intra=Link(0.0, 1.0), inter=Link(0.0, 1.0))
    return cf.allreduce_time(algorithm, size_bytes, fabric_lat), cf.allreduce_time(algorithm, size_bytes, fabric_bw)


def collective_coefficients(op: str, algorithm: str, ranks: int, size_bytes: float) -> tuple[float, float]:
    """(a, b) with ``time = a·α + b·(1/B)`` for collective ``op`` of ``size_bytes`` on ``ranks`` ranks.

    All-reduce: :func:`closed_form_coefficients`. All-gather and reduce-scatter of a total of
    ``S`` bytes run as rings whatever the all-reduce algorithm (NCCL's only algorithm for both
    before NVLS/PAT): ``(N−1)·α + (N−1)/N·S/B`` (:func:`dpsim.analytic.collectives.reduce_scatter_time`).
    """
    if op == "all_reduce":
        return closed_form_coefficients(algorithm, ranks, size_bytes)
    if op not in COLLECTIVE_OPS:
        raise ValueError(f"collective must be one of {', '.join(COLLECTIVE_OPS)}, got {op!r}")
    return cf.reduce_scatter_time(size_bytes, ranks, Link(1.0, math.inf)), cf.reduce_scatter_time(
        size_bytes, ranks, Link(0.0, 1.0)
    )


def fit_coefficients(rows: np.ndarray, times_s: np.ndarray, *, relative: bool = True) -> tuple[Link, float]:
    """Least-squares link for ``t_i = a_i·α + b_i·β`` (``rows[i] = (a_i, b_i)``): the fitted Link and max |rel. error|.

    Solves ``min Σ w_i² (a_i α + b_i β − t_i)²`` for α ≥ 0, β = 1/B > 0, with
    ``w_i = 1/t_i`` when ``relative`` (every size counts alike, not only the largest).
    """
    times = np.asarray(times_s, dtype=float)
    if np.any(times <= 0):
        raise ValueError("measured times must be positive")
    weights = 1.0 / times if relative else np.ones_like(times)
    solution, *_ = np.linalg.lstsq(rows * weights[:, None], times * weights, rcond=None)
    alpha, beta = float(solution[0]), float(solution[1])
    if alpha < 0:  # latency below resolution: refit bandwidth alone with α = 0
        alpha = 0.0
        b = rows[:, 1] * weights
        beta = float(np.dot(b, times * weights) / np.dot(b, b))
    if beta <= 0:
        raise ValueError("fitted bandwidth is not positive: the samples do not grow with message size")
    predicted = rows @ np.array([alpha, beta])
    worst = float(np.max(np.abs(predicted - times) / times))
    return Link(alpha, 1.0 / beta), worst


def fit_coefficients_minimax(rows: np.ndarray, times_s: np.ndarray, *, iterations: int = 100) -> tuple[Link, float]:
    """Link minimising the *largest* relative error ``max_i |a_i·α + b_i·β − t_i| / t_i`` (α ≥ 0, β > 0).

    The Chebyshev (L∞) fit, by Lawson's iteratively reweighted least squares (Lawson 1961;
    Rice & Usow 1968): the weights of the worst-fitted sizes grow until the errors
    equioscillate. Used where the claim is "within x % at every size", which least squares
    does not minimise. With α clamped at 0 the one-parameter optimum is closed form:
    ``β = 2 / (min c_i + max c_i)``, ``c_i = b_i / t_i``.
    """
    times = np.asarray(times_s, dtype=float)
    if np.any(times <= 0):
        raise ValueError("measured times must be positive")
    a = rows / times[:, None]  # relative residual: a·x − 1
    weights = np.full(len(times), 1.0 / len(times))
    best: tuple[float, float, float] | None = None
    for _ in range(iterations):
        sw = np.sqrt(weights)
        x, *_ = np.linalg.lstsq(a * sw[:, None], sw, rcond=None)
        if x[0] < 0 or x[1] <= 0:
            break
        err = np.abs(a @ x - 1.0)
        worst = float(err.max())
        if best is None or worst < best[0] - 1e-15:
            best = (worst, float(x[0]), float(x[1]))
        weights = weights * err
        total = float(weights.sum())
        if not total > 0 or not math.isfinite(total):  # an exact fit: nothing left to reweight
            break
        weights /= total
    c = a[:, 1]
    beta0 = 2.0 / (float(c.min()) + float(c.max())) if c.max() > 0 else 0.0
    if beta0 > 0:
        worst0 = float(np.max(np.abs(c * beta0 - 1.0)))
        if best is None or worst0 < best[0]:
            best = (worst0, 0.0, beta0)
    if best is None:
        raise ValueError("fitted bandwidth is not positive: the samples do not grow with message size")
    worst, alpha, beta = best
    return Link(alpha, 1.0 / beta), worst


def fit_link(samples: Sequence[CollectiveSample], *, relative: bool = True) -> LinkFit:
    """Least-squares α and B of one (link class, algorithm) from measured all-reduce times.

    See :func:`fit_coefficients`. Needs at least two samples that differ in size or rank count.
    """
    if len(samples) < 2:
        raise ValueError(f"need at least 2 samples to fit α and β, got {len(samples)}")
    algorithms = {s.algorithm for s in samples}
    if len(algorithms) != 1:
        raise ValueError(f"samples mix algorithms {sorted(algorithms)}; fit one algorithm at a time")
    rows = np.array([closed_form_coefficients(s.algorithm, s.ranks, s.size_bytes) for s in samples], dtype=float)
    times = np.array([s.time_s for s in samples], dtype=float)
    link, worst = fit_coefficients(rows, times, relative=relative)
    return LinkFit(link, len(samples), worst)


def fit_link_model(
    samples: Sequence[CollectiveSample],
    rates: Sequence[float | None],
    *,
    large_message_bytes: float,
    share: Callable[[int], float] | None = None,
    host_per_byte: Mapping[float, float] | None = None,
) -> LinkModel:
    """α from small messages, the bandwidth terms from large ones, for one (link class, algorithm).

    ``rates[i]`` is the shaped rate of sample ``i`` (None: unshaped). A sample is *large* when
    the message each rank sends per step (the closed form's bandwidth coefficient over its
    step count) is at least ``large_message_bytes`` — far above the shaper's burst, so the
    token bucket's line-rate start does not flatter it. Bandwidth terms are fitted on large
    samples with α fixed, α on the small ones with the bandwidth fixed (median), in
    rounds until α settles. With shaped samples at two or more rates, ``1/B = 1/(η·R) + c`` is fitted (η, c);
    at one rate ``c = 0``. The residual is the worst over all samples. With ``share`` (a shared host),
    ``host_per_byte`` maps each shaped rate to the host's measured CPU time per byte a rank sends
    (κ): it is then not fitted (:func:`_fit_shared_host`).
    """
    if len(samples) < 2:
        raise ValueError(f"need at least 2 samples to fit α and β, got {len(samples)}")
    if len({s.algorithm for s in samples}) != 1:
        raise ValueError("samples mix algorithms; fit one algorithm at a time")
    alg = samples[0].algorithm
    rows = np.array([closed_form_coefficients(alg, s.ranks, s.size_bytes) for s in samples], dtype=float)
    a, b = rows[:, 0], rows[:, 1]
    t = np.array([s.time_s for s in samples], dtype=float)
    steps = np.maximum(a, 1.0)
    large = b / steps >= large_message_bytes
    if not large.any():
        raise CalibrationError(
            f"{alg}: no message of at least {large_message_bytes:.0f} B per step; "
            "calibrate with larger sizes (--sizes) so bandwidth is measured far above the shaper's burst"
        )
    if share is not None:
        return _fit_shared_host(samples, rates, a, b, t, large, share, host_per_byte)
    shaped = [r for r in rates if r is not None]
    distinct = sorted(set(shaped))
    two_rates = len(distinct) >= 2 and len(shaped) == len(rates)
    inv_r = np.array([1.0 / r if r is not None else 0.0 for r in rates])
    alpha, eta_inv, cpu = 0.0, 0.0, 0.0
    for _ in range(100):  # alternate until α settles (each round contracts the coupling of α and β)
        previous = alpha
        y = (t - a * alpha)[large]
        w = 1.0 / t[large]
        if two_rates:
            x = np.stack([b[large] * inv_r[large], b[large]], axis=1)
            sol, *_ = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)
            eta_inv, cpu = float(sol[0]), float(sol[1])
            if cpu < 0:  # non-negative least squares over the two terms: drop the negative one, refit
                cpu = 0.0
                xs = b[large] * inv_r[large] * w
                eta_inv = float(np.dot(xs, y * w) / np.dot(xs, xs))
            elif eta_inv < 0:  # the rate does not matter: the link is bound by the per-byte cost alone
                eta_inv = 0.0
                xs = b[large] * w
                cpu = float(np.dot(xs, y * w) / np.dot(xs, xs))
        elif shaped:
            xs = b[large] * inv_r[large] * w
            eta_inv, cpu = float(np.dot(xs, y * w) / np.dot(xs, xs)), 0.0
        else:
            xs = b[large] * w
            cpu = float(np.dot(xs, y * w) / np.dot(xs, xs))  # unshaped: 1/B alone
        per_byte = eta_inv * inv_r + cpu
        small = ~large & (a > 0)
        if small.any():
            alpha = max(0.0, float(np.median((t[small] - b[small] * per_byte[small]) / a[small])))
        elif (a > 0).any():
            alpha = max(0.0, float(np.median((t - b * per_byte)[a > 0] / a[a > 0])))
        if abs(alpha - previous) <= 1e-12 * max(alpha, 1e-9):
            break
    if (eta_inv <= 0 and cpu <= 0) or (not shaped and cpu <= 0):
        # latency and bandwidth cannot be separated (e.g. small and large messages take as long):
        # bandwidth alone with α = 0 over every sample; its residual says how poorly that fits
        alpha, eta_inv = 0.0, 0.0
        cpu = float(np.dot(b / t, np.ones_like(t)) / np.dot(b / t, b / t)) if np.any(b > 0) else 0.0
        shaped, distinct = [], []
    if cpu <= 0 and eta_inv <= 0:
        raise CalibrationError(f"{alg}: fitted bandwidth is not positive: the times do not grow with message size")
    predicted = a * alpha + b * (eta_inv * inv_r + cpu)
    worst = float(np.max(np.abs(predicted - t) / t))
    if shaped:
        top = max(distinct)
        efficiency = 1.0 / eta_inv if eta_inv > 0 else math.inf  # inf: the shaper never binds
        return LinkModel(alpha, 1.0 / (eta_inv / top + cpu), efficiency, cpu, worst, len(samples))
    return LinkModel(alpha, 1.0 / cpu, None, 0.0, worst, len(samples))


SHARPNESS_GRID = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0)
"""p values the shared-host link fit tries (1: wire and host in series; large: the slower alone)."""


def _fit_shared_host(
    samples: Sequence[CollectiveSample], rates: Sequence[float | None], a: np.ndarray, b: np.ndarray,
    t: np.ndarray, large: np.ndarray, share_of: Callable[[int], float],
    host_per_byte: Mapping[float, float] | None = None,
) -> LinkModel:  # fmt: skip
    """The testbed form of :class:`LinkModel`: η, p and κ per shaped rate, least squares in relative error.

    ``t = a·α·s(n) + b·((1/(η·R))^p + (κ(R)·s(n))^p)^(1/p)`` with ``s(n) = share_of(n)``
    (:meth:`HostModel.comm_share`): a grid over p and η (shaped samples only), for each a
    κ per shaped rate on a fine logarithmic grid (the host's work per byte depends on how the
    shaper paces the traffic), minimising the sum of squared relative errors over the large
    samples (as the unshared fit's weighted least squares); α the median over the small
    samples of what the bandwidth terms leave (α ≥ 0), in two rounds. Not the worst error: a
    benchmark median on the shared host is uncertain by 2–10 % (``median_uncertainty``), and
    minimax hands η to the noisiest point — on the 2-core VM it set the ring's η to 0.87
    (every 150 and 450 Mbit/s point over-predicted, by up to 13 %) where its own 3-rank points
    at 150 Mbit/s and the training runs at 200 Mbit/s say 0.92–0.94. The residual reported is
    still the worst relative error.

    With ``host_per_byte`` (κ per shaped rate, measured: the host's busy CPU per byte a rank
    sends) κ is not fitted. At low rates the wire hides the host term, so a fitted κ there is
    whatever the noise makes it (2–19 ns per byte for four algorithms on one host whose busy
    time says 15–17 ns for all four); the measured κ leaves η, p and α to the fit.

    Where no shaper paces the link (the intra-node loopback) the wire's place is taken by ``w``, one pair's own
    pace (:attr:`LinkModel.pair_per_byte_s`), on a logarithmic grid from 5 % of the fastest large sample's time
    per byte to the slowest's, and w = 0 (the form without it, at p = 1).
    """
    share = np.array([share_of(s.ranks) for s in samples])
    shaped = all(r is not None for r in rates)
    inv_r = np.array([1.0 / r if r is not None else 0.0 for r in rates])
    groups = sorted({r for r in rates if r is not None}) if shaped else [None]
    member = [np.array([r == g for r in rates]) for g in groups]
    per_byte_large = t[large] / b[large]
    # the wire term's grid: η of the shaped rate, or w (one pair's own pace, LinkModel.pair_per_byte_s) where no
    # shaper paces the link; w = 0 is the form without it
    options = (
        np.linspace(0.6, 1.0, 41)
        if shaped
        else np.concatenate([[0.0], np.geomspace(per_byte_large.min() * 0.05, per_byte_large.max(), 60)])
    )
    kappas = np.geomspace(max(per_byte_large.min(), 1e-15) * 1e-3, per_byte_large.max() * 2.0, 400)
    fixed = shaped and host_per_byte is not None and all(g in host_per_byte for g in groups)
    if fixed:
        assert host_per_byte is not None
        kappas = np.array(sorted({float(host_per_byte[g]) for g in groups if g is not None}))
    allowed = [kappas == host_per_byte[g] if fixed and host_per_byte is not None and g is not None
               else np.ones(len(kappas), dtype=bool) for g in groups]  # fmt: skip
    small = ~large & (a > 0)
    alpha = 0.0
    best: tuple[float, float, list[float], float] | None = None
    for _ in range(2):
        y = t - a * alpha * share
        best = None
        for p in SHARPNESS_GRID:
            wire = _wire(inv_r, options, shaped)  # samples × η (or w)
            host = share[:, None] * kappas[None, :]  # samples × κ
            tau = (wire[:, :, None] ** p + host[:, None, :] ** p) ** (1.0 / p)  # samples × η × κ
            err = np.abs(b[:, None, None] * tau - y[:, None, None]) / t[:, None, None]
            squares_eta = np.zeros(len(options))  # Σ squared relative errors per η (or w), κ per rate at its best
            picks = []
            for m, ok in zip(member, allowed, strict=True):
                rows = large & m
                if not rows.any():
                    picks.append(np.full(len(options), int(np.argmax(ok)), dtype=int))
                    continue
                w = np.where(ok[None, :], (err[rows] ** 2).sum(axis=0), np.inf)  # η × κ
                j = np.argmin(w, axis=1)
                picks.append(j)
                squares_eta = squares_eta + w[np.arange(len(options)), j]
            if not shaped and p != SHARPNESS_GRID[0]:  # w = 0 is the same fit at every p: kept at the first
                squares_eta[0] = np.inf
            i = int(np.argmin(squares_eta))
            if best is None or squares_eta[i] < best[0]:
                best = (float(squares_eta[i]), float(options[i]), [float(kappas[j[i]]) for j in picks], p)
        assert best is not None
        _, eta, ks, p = best
        tau_all = _tau(_wire(inv_r, np.array([eta]), shaped)[:, 0], _kappa_of(rates, groups, ks) * share, p)
        if small.any():
            alpha = max(0.0, float(np.median((t[small] - b[small] * tau_all[small]) / (a[small] * share[small]))))
    assert best is not None
    _, eta, ks, p = best
    predicted = a * alpha * share + b * _tau(_wire(inv_r, np.array([eta]), shaped)[:, 0],
                                             _kappa_of(rates, groups, ks) * share, p)  # fmt: skip
    rel = np.abs(predicted - t) / t
    worst = float(np.max(rel[large]))
    latency_residual = float(np.median(rel[small])) if small.any() else 0.0
    by_rate = tuple((float(g), k) for g, k in zip(groups, ks, strict=True) if g is not None)
    top = groups[-1]
    wire_top = 1.0 / (eta * top) if top is not None else eta
    per_byte = float(_tau(np.array([wire_top]), np.array([ks[-1]]), p)[0])
    return LinkModel(alpha, 1.0 / per_byte, eta if shaped else None, 0.0, worst, len(samples), ks[-1], p, by_rate,
                     latency_residual, 0.0 if shaped else eta)  # fmt: skip


def _wire(inv_r: np.ndarray, options: np.ndarray, shaped: bool) -> np.ndarray:
    """Samples × options of the wire term: ``1/(η·R)`` per sample's shaped rate, or the option ``w`` itself where no
    shaper paces the link (:attr:`LinkModel.pair_per_byte_s`)."""
    if shaped:
        return inv_r[:, None] / options[None, :]
    return np.broadcast_to(options[None, :], (len(inv_r), len(options)))


def _tau(wire: np.ndarray, host: np.ndarray, p: float) -> np.ndarray:
    return (wire**p + host**p) ** (1.0 / p)


def _kappa_of(rates: Sequence[float | None], groups: Sequence[float | None], ks: Sequence[float]) -> np.ndarray:
    index = {g: i for i, g in enumerate(groups)}
    return np.array([ks[index[r]] for r in rates])


LATENCY_SUFFIX = " (latency, median)"
"""Suffix of a residual that reports α's scatter over small messages: printed, not held to the limit
(on a shared host a small message's time is dominated by when the scheduler runs each rank)."""


CALIBRATE_ADVICE = (
    "rerun on a quiet machine with more repetitions (--reps), drop the algorithm (--algorithms), "
    "or accept a larger residual with --max-residual"
)
"""What to do about a residual above the limit, in ``dpsim calibrate``'s options."""


FIT_ADVICE = {
    "host": "host: k processes computing at once did not slow each other as the host's cores shared among them "
    "would (fit_host); most often other work ran on the host while they were measured: stop it and calibrate again",
    "host.optimizer": "host.optimizer: k processes stepping Adam at once did not slow each other as the engines "
    "price it, the steps taking turns on the host's C cores (max(1, k/C), sharing_residual); "
    "meta.host_optimizer_fit holds the free fit (fit_host's own C and ε): a loss ε well above 0 there is contention "
    "the engines do not price, else other work ran on the host: stop it and calibrate again, or accept it with the "
    "residual override",
    "optimizer": "optimizer: the optimizer step's time is not a fixed cost plus a cost per parameter over the sizes "
    "timed, also after timing them again with 2x and 4x the steps; each step follows a write of twice the last-level "
    "cache (its state from memory, as in training) and is timed on its thread's CPU clock without page faults, so "
    "most often other work shared the host's memory meanwhile, or the host's cache is larger than it reports "
    "(meta.last_level_cache_bytes): stop the other work and calibrate again",
}
"""What a residual above the limit says about one fit and what to do, beside the command's advice (by fit name)."""


def residuals_above(profile: HardwareProfile, limit: float = MAX_RESIDUAL) -> dict[str, float]:
    """The fits of ``profile`` whose worst relative residual exceeds ``limit``, by name.

    α's scatter over small messages (:data:`LATENCY_SUFFIX`) is reported but not held to the limit.
    """
    return {name: r for name, r in profile.residuals().items() if r > limit and not name.endswith(LATENCY_SUFFIX)}


WORST_POINT_FIELDS = ("ranks", "size_bytes", "rate_bytes_per_s", "error", "median_uncertainty")
"""What ``meta.fit_worst_points`` holds for a link fit: its worst bandwidth point (rank count, all-reduce size,
shaped rate or None), the fit's relative error there ((fitted − measured)/measured) and the relative 95 % half
width of that point's measured median (``runtime.bench.median_uncertainty``). Optionally ``beyond_scatter``
(:data:`BEYOND_SCATTER`)."""

BEYOND_SCATTER = "beyond_scatter"
"""The key of ``meta.fit_worst_points.<fit>`` holding the fit's residual beyond its points' own scatter:
``max(0, max_i(|e_i| − U_i))`` over its bandwidth points, ``e_i`` the fit's relative error at point ``i`` and
``U_i`` the relative 95 % half width of that point's measured median. :func:`check_residuals` holds this, not the
raw residual, to the limit: a median uncertain by ±U cannot show a fit wrong by less than U."""


def _beyond_scatter(profile: HardwareProfile, name: str) -> float | None:
    """Fit ``name``'s recorded residual beyond its points' own scatter (:data:`BEYOND_SCATTER`), None where the profile
    does not record it."""
    point = (profile.meta.get("fit_worst_points") or {}).get(name)
    value = point.get(BEYOND_SCATTER) if isinstance(point, dict) else None
    return None if value is None else float(value)


def within_scatter(profile: HardwareProfile, limit: float = MAX_RESIDUAL) -> dict[str, float]:
    """The link fits whose residual exceeds ``limit`` but whose every point lies within ``limit`` of the fit once its
    measured median's own uncertainty is allowed (:data:`BEYOND_SCATTER` at most ``limit``): fit name → that value.

    On the 2-core VM an intra-node all-reduce's median is uncertain by ±16 % (median over the points of the
    2026-12-06-m calibration; inter-node ±7 %), so a form that is right can still miss such a point by more than 5 %.
    """
    out = {}
    for name in residuals_above(profile, limit):
        beyond = _beyond_scatter(profile, name)
        if name.startswith("links.") and beyond is not None and beyond <= limit:
            out[name] = beyond
    return out


def worst_point_note(name: str, point: Mapping[str, Any], limit: float = MAX_RESIDUAL) -> str:
    """What a link fit's worst point says about its residual above ``limit``, and what to do about it.

    A point whose median is uncertain by at least its error's excess over the limit (``|error| − U ≤ limit``)
    may lie within the limit: the benchmark's scatter, which more repetitions on a quiet host narrow. A point
    measured more tightly than that is one the form does not explain: measuring it again will not help.
    """
    error, spread = float(point["error"]), float(point.get("median_uncertainty") or 0.0)
    rate = point.get("rate_bytes_per_s")
    size = float(point["size_bytes"])
    where = (f"{int(point['ranks'])} ranks, "
             + (f"{size / 2**20:g} MiB" if size >= 2**20 else f"{size / 2**10:g} KiB")
             + (f" at {8e-6 * float(rate):g} Mbit/s" if rate else ""))  # fmt: skip
    said = (f"{name}: worst at {where}, fitted {100 * abs(error):.1f} % {'below' if error < 0 else 'above'} the "
            f"measured median, itself uncertain by ±{100 * spread:.1f} %")  # fmt: skip
    if abs(error) - spread <= limit:
        return said + (": within the benchmark's own scatter of the limit, so more repetitions on a quiet host "
                       "can bring it under")  # fmt: skip
    return said + (": the form does not explain this point (more repetitions will not change it); drop the "
                   "algorithm or accept the residual")  # fmt: skip


REFERENCE_PACE = "reference_pace"
"""The ``meta`` entry of the host's pace while the profile was calibrated (``runtime.pace``): ``kernel`` (a text: what
the reference kernel is, so runs time the same one), ``started_utc`` and ``probes``, each probe a mapping of
:data:`PACE_PROBE_KEYS`: the calibration part it brackets (``part``), its attempt (1, 2, …: a part whose pace moved
is timed again), ``at`` (``before`` or ``after`` the part), ``t_s`` (seconds since the calibration started) and
``kernel_s`` (the reference kernel's time then: larger is a slower host)."""
PACE_PROBE_KEYS = ("part", "attempt", "at", "t_s", "kernel_s")
"""The keys of one probe in ``meta.reference_pace.probes`` (:data:`REFERENCE_PACE`)."""
PACE_ADVICE = (
    "the host ran the same fixed work at another pace before and after it (throttling, a noisy neighbour, a clock "
    "change: nothing inside the guest need show it), so its measurements mix two hosts: calibrate again when the "
    "host is steady, or accept it with the residual override"
)
"""What to do about a calibration part during which the host's pace moved beyond the limit."""


def pace_kept_probes(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The probes of ``meta.reference_pace`` that bracket each part's last attempt (the measurement the profile
    kept), in order; [] without the entry."""
    probes = (meta.get(REFERENCE_PACE) or {}).get("probes") or []
    last: dict[str, int] = {}
    for probe in probes:
        last[str(probe["part"])] = max(last.get(str(probe["part"]), 0), int(probe["attempt"]))
    return [p for p in probes if int(p["attempt"]) == last[str(p["part"])]]


def pace_drift(meta: Mapping[str, Any]) -> dict[str, float]:
    """How far the host's pace moved during each calibration part (its last attempt): part → ``max/min − 1`` of the
    reference kernel's times before and after it (symmetric: twice as slow and twice as fast both give 1.0)."""
    times: dict[str, list[float]] = {}
    for probe in pace_kept_probes(meta):
        times.setdefault(str(probe["part"]), []).append(float(probe["kernel_s"]))
    return {part: max(ts) / min(ts) - 1.0 for part, ts in times.items() if len(ts) >= 2}


def calibration_pace_s(meta: Mapping[str, Any]) -> float | None:
    """The reference kernel's time while the profile was calibrated: the median over the probes of each part's last
    attempt (None: the profile records no pace)."""
    kept = [float(p["kernel_s"]) for p in pace_kept_probes(meta)]
    return float(np.median(kept)) if kept else None


def pace_problem(profile: HardwareProfile, limit: float = MAX_RESIDUAL) -> str | None:
    """The calibration parts during which the host's pace moved more than ``limit`` (:func:`pace_drift`), and what
    to do, in one clause; None when none did (or the profile records no pace)."""
    drifted = {part: d for part, d in pace_drift(profile.meta).items() if d > limit}
    if not drifted:
        return None
    listed = ", ".join(f"pace.{part} {100 * d:.1f} %" for part, d in drifted.items())
    return f"host pace moved more than {100 * limit:g} % during a calibration part: {listed}; {PACE_ADVICE}"


def check_residuals(profile: HardwareProfile, limit: float = MAX_RESIDUAL, advice: str = CALIBRATE_ADVICE) -> None:
    """Raise :class:`CalibrationError` naming every fit whose residual exceeds ``limit``, and what to do.

    A link fit is held to ``limit`` beyond its points' own scatter where the profile records it
    (:data:`BEYOND_SCATTER`): one whose every point lies within ``limit`` of the fit once its measured median's
    95 % uncertainty is allowed is accepted (:func:`within_scatter`), and the error names, for each fit it
    refuses, how far beyond that scatter it lies.
    ``advice``: what to do, in the options of the command that calibrated (``calibrate``'s by default).
    A link fit whose worst point the profile records (``meta.fit_worst_points``) also gets what that point
    says (:func:`worst_point_note`): the benchmark's scatter, or a point the form does not explain.
    """
    accepted = within_scatter(profile, limit)
    bad = {name: r for name, r in residuals_above(profile, limit).items() if name not in accepted}
    drifted = pace_problem(profile, limit)
    if drifted and not bad:
        raise CalibrationError(drifted)
    if bad:
        worst = profile.meta.get("fit_worst_points") or {}

        def beyond(name: str) -> str:
            value = _beyond_scatter(profile, name)
            return f" ({100 * value:.1f} % beyond its points' own scatter)" if value is not None else ""

        listed = ", ".join(f"{name} {100 * r:.1f} %{beyond(name)}" for name, r in sorted(bad.items()))
        notes = "".join(f"; {FIT_ADVICE[name]}" for name in sorted(bad) if name in FIT_ADVICE)
        notes += "".join(f"; {worst_point_note(name, worst[name], limit)}" for name in sorted(bad) if name in worst)
        rule = (" beyond the benchmark's own scatter (each point's error less its measured median's 95 % uncertainty)"
                if any(beyond(name) for name in bad) else "")  # fmt: skip
        raise CalibrationError(
            f"fit residual above {100 * limit:g} %{rule}: {listed}; the model does not explain these measurements — "
            f"{advice}" + notes + (f"; {drifted}" if drifted else "")
        )


def fit_linear_time(xs: Sequence[float], times_s: Sequence[float], *, relative: bool = False) -> LinearTime:
    """Least-squares ``t = t0 + t1·x`` with t0, t1 ≥ 0; one point gives a line through 0.

    The constrained optimum: a negative intercept gives the line through 0, a negative slope (noisy
    times that fall with x, e.g. on a loaded machine) the constant ``mean(t)``: time never falls as
    work grows, and a profile never holds a negative time.

    ``relative``: least squares in relative error (weights ``1/t``, every size counts alike, as the link
    fits do, :func:`fit_coefficients`), the error the fit's residual is taken in. Unweighted, a line
    through 1, 4 and 16 M parameters is set by the largest, and the smallest's relative error is whatever
    is left: the 2026-12-05-h calibration's cold optimizer points (4.968 / 16.717 / 70.840 ms) leave
    11.1 % there unweighted, 4.8 % weighted (708 µs + 4.01 ns a parameter against 0 + 4.21).
    """
    x = np.asarray(xs, dtype=float)
    t = np.asarray(times_s, dtype=float)
    if x.size == 0 or x.size != t.size:
        raise ValueError("need as many times as x values, and at least one")
    if x.size == 1 or np.ptp(x) == 0:
        return LinearTime(0.0, float(np.mean(t / x)))
    if relative:
        if np.any(t <= 0):
            raise ValueError("a fit in relative error needs every time > 0")
        w = 1.0 / t
        (intercept, slope), *_ = np.linalg.lstsq(np.stack([w, x * w], axis=1), np.ones_like(t), rcond=None)
        if slope < 0:  # the constant closest in relative error
            return LinearTime(float(np.sum(w) / np.sum(w * w)), 0.0)
        if intercept < 0:  # the line through 0 closest in relative error
            return LinearTime(0.0, float(np.sum(x * w) / np.sum((x * w) ** 2)))
        return LinearTime(float(intercept), float(slope))
    slope, intercept = np.polyfit(x, t, 1)
    if slope < 0:
        return LinearTime(float(np.mean(t)), 0.0)
    if intercept < 0:
        return LinearTime(0.0, float(np.dot(x, t) / np.dot(x, x)))
    return LinearTime(float(intercept), float(slope))


def bus_bandwidth(size_bytes: float, time_s: float, ranks: int, op: str = "all_reduce") -> float:
    """nccl-tests bus bandwidth ``busbw = (S/t) · factor(op, N)`` (bytes/s); all-reduce: ``2(N−1)/N``.

    ``op`` as the runtime's benchmark names it (``all_reduce``, ``all_gather``, ``reduce_scatter``,
    ``broadcast``); the factors are :func:`dpsim.analytic.collectives.busbw_factor`'s.
    """
    return size_bytes / time_s * cf.busbw_factor({"all_reduce": "allreduce"}.get(op, op), ranks)


@dataclass(frozen=True)
class HardwareProfile:
    """Measured hardware: what engines use instead of catalog numbers when a scenario names it."""

    name: str = "profile"
    backend: str = ""
    host: str = ""
    links: Mapping[str, Mapping[str, Link]] = field(default_factory=dict)
    """link class → algorithm → fitted Link."""
    reduction_bandwidth: float | None = None
    """Bytes/s of the backend's element-wise summation (γ⁻¹ in Thakur et al.), or None."""
    forward: LinearTime | None = None
    """Forward time of one micro-batch on one worker, linear in micro-batch size."""
    backward: LinearTime | None = None
    optimizer: LinearTime | None = None
    """Optimizer step time, linear in the number of parameters (on one worker)."""
    optimizer_curve: tuple[tuple[int, float], ...] = ()
    """(hidden, seconds per parameter) of ``optimizer.step()`` on square MLP layers of that width, ascending,
    right after a backward (warm caches): measured and kept, not priced (:meth:`optimizer_for` prices the
    step cold, on ``optimizer``)."""
    compute_curve: ComputeCurve | None = None
    """Time per FLOP of MLP layers over (hidden, micro_batch), for any ``layers × hidden`` MLP."""
    host_model: HostModel | None = None
    """How ranks sharing the host's cores slow each other (compute, optimizer, communication threads)."""
    calibrated_on: tuple[str, ...] = ()
    """Configurations the profile was measured on (labels, for validation reports)."""
    collectives: Mapping[str, Mapping[str, Mapping[str, tuple[LinkSegment, ...]]]] = field(default_factory=dict)
    """link class → algorithm → collective → size regimes (ascending ``from_bytes``), e.g. fitted
    from nccl-tests output (:mod:`dpsim.ingest.nccl_tests`). ``links`` holds the largest-size regime."""
    step_overhead_s: float | None = None
    """Seconds a step's first micro-batch takes over the profile's micro-batch, once a step: the scenario model's
    DDP-wrapped synchronising micro-batch right after an optimizer step (``step()`` + ``zero_grad``) over the same
    micro-batch back to back, alone on one thread (``runtime.calibrate.measure_step_overhead``: the median of paired
    differences, at least 0; the raw median, its CPU counterpart and its spread in ``meta.step_overhead``). Priced
    once a step by :func:`dpsim.analytic.step.step_overhead_seconds`; None (not measured): nothing is priced."""
    gradient_ready: tuple[tuple[float, float], ...] = ()
    """Measured gradient readiness in the backward: (fraction of gradient bytes ready, fraction of the
    backward elapsed) after each parameter, ascending — from a profiler trace (:mod:`dpsim.ingest.kineto`).
    Empty: gradients become ready at a uniform rate."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Free-form provenance: torch version, model shape, testbed, link rate."""
    source: str = ""
    """Path the profile was loaded from ('' when built in memory)."""

    def compute_time(self, micro_batch: int) -> tuple[float, float]:
        """(forward_s, backward_s) of one micro-batch of ``micro_batch`` samples on one worker."""
        if self.forward is None or self.backward is None:
            raise ValueError(f"profile {self.name!r} has no compute calibration")
        return self.forward(micro_batch), self.backward(micro_batch)

    @property
    def has_compute(self) -> bool:
        """A per-model forward/backward fit (not the MLP curve: see :meth:`has_compute_for`)."""
        return self.forward is not None and self.backward is not None

    def link(
        self,
        link_class: str,
        algorithm: str,
        rate: float | None = None,
        ranks_on_host: float | None = None,
        streams: int = 1,
    ) -> Link | None:
        """The fitted link of ``link_class`` for ``algorithm`` (at shaped rate ``rate``); None if not calibrated.

        Hierarchical all-reduce runs rings inside and between nodes, so it falls back to
        the ring fit of that class. A link fitted on a shaped testbed follows ``rate``, and
        one fitted on a shared host the number of ranks sharing its cores (``ranks_on_host``, in
        senders' work: :meth:`host_senders` counts loopback hops in fractions), of which ``streams``
        per node send across it at once (:meth:`LinkModel.at_rate`).
        """
        if link_class not in LINK_CLASSES:
            raise ValueError(f"link class must be one of {LINK_CLASSES}, got {link_class!r}")
        table = self.links.get(link_class, {})
        found = table.get(algorithm) or (table.get("ring") if algorithm == "hierarchical" else None)
        if isinstance(found, LinkModel):
            share = 1.0
            if self.host_model is not None and ranks_on_host is not None:
                share = self.host_model.comm_share(ranks_on_host)
            return found.at_rate(rate, share, streams)
        return found

    def regimes(self, link_class: str, algorithm: str) -> tuple[LinkSegment, ...]:
        """The size regimes of ``link_class`` for ``algorithm`` the engines price collectives with (empty: none).

        The all-reduce curve, else the reduce-scatter or all-gather one (a ring all-reduce is
        a reduce-scatter plus an all-gather on the same links) — the curve ``links`` takes its
        largest regime from. Hierarchical all-reduce falls back to the ring's, as :meth:`link`.
        """
        table = self.collectives.get(link_class, {})
        ops = table.get(algorithm) or (table.get("ring") if algorithm == "hierarchical" else None) or {}
        return ops.get("all_reduce") or ops.get("reduce_scatter") or ops.get("all_gather") or ()

    def collective_time(self, op: str, link_class: str, algorithm: str, ranks: int, size_bytes: float) -> float:
        """Time of one ``op`` on ``ranks`` ranks from the regime of ``collectives`` that covers ``size_bytes``.

        Falls back to the single fitted link of ``links`` where no curve was fitted.
        """
        segments = self.collectives.get(link_class, {}).get(algorithm, {}).get(op)
        if segments:
            link = cf.regime_link(segments, size_bytes)
        else:
            fitted = self.link(link_class, algorithm)
            if fitted is None:
                raise ValueError(f"profile {self.name!r} has no {link_class}/{algorithm} link")
            link = fitted
        a, b = collective_coefficients(op, "ring" if algorithm in ("backend", "hierarchical") else algorithm, ranks,
                                       size_bytes)  # fmt: skip
        return a * link.latency_s + b / link.bandwidth

    def bucket_ready_fractions(self, bucket_bytes: Sequence[float]) -> list[float]:
        """Fraction of the backward elapsed when each DDP bucket is ready (:func:`bucket_ready_fractions`)."""
        return bucket_ready_fractions(self.gradient_ready, bucket_bytes)

    def optimizer_time(self, parameters: float) -> float:
        """Optimizer step time for ``parameters`` parameters (0 when not calibrated)."""
        return self.optimizer(parameters) if self.optimizer is not None else 0.0

    # --- what the engines ask, for one scenario ---------------------------------------------

    def ranks_on_host(self, scenario: Scenario) -> int:
        """Ranks of the scenario sharing one host's cores (every rank without a host model: one testbed host)."""
        h = self.host_model
        return h.ranks_on_host(scenario) if h is not None else scenario.world_size

    def bytes_across_nodes(self, scenario: Scenario, size_bytes: float) -> float:
        """Bytes one sender of :meth:`senders_across_nodes` moves across nodes in an all-reduce of ``size_bytes``.

        The closed form's bandwidth coefficient over the data-parallel ranks; under
        ``hierarchical`` the ring across the nodes on the node's share (``size/G``).
        """
        algorithm = scenario.communication.algorithm
        world, per_node = scenario.data_parallel, scenario.cluster.workers_per_node
        if world <= 1:
            return 0.0
        if algorithm == "hierarchical" and per_node > 1:
            nodes = max(1, world // per_node)
            return closed_form_coefficients("ring", nodes, size_bytes / per_node)[1] if nodes > 1 else 0.0
        return closed_form_coefficients(algorithm if algorithm in FIT_ALGORITHMS else "ring", world, size_bytes)[1]

    def senders_across_nodes(self, scenario: Scenario) -> int:
        """Ranks on one host whose all-reduce traffic crosses nodes at once.

        Every rank with one rank per node, or under ``hierarchical`` (each local rank runs its
        own ring across nodes); otherwise a flat algorithm over the nodes' ranks crosses each
        node boundary once, so one rank per node sends across (the others over loopback).
        """
        n = self.ranks_on_host(scenario)
        per_node = scenario.cluster.workers_per_node
        if per_node == 1 or scenario.communication.algorithm == "hierarchical":
            return n
        return max(1, n // per_node)

    def host_senders(self, scenario: Scenario) -> float:
        """The host's communication work per byte-step, in inter-node senders: ``M + (N − M)·κ_intra/κ(R)``.

        Under a flat algorithm with G > 1 ranks a node (gloo's ring in rank order, the ring) every step
        moves a chunk over every hop at once: M = :meth:`senders_across_nodes` hops cross nodes (κ(R) of
        host CPU per byte at the scenario's rate, the inter-node link's :meth:`LinkModel.host_per_byte_at`)
        and the other N − M run over loopback inside a node, whose copies, reduction and loopback TCP cost
        the host κ_intra per byte (the intra-node link's host work per byte with one pair communicating,
        calibrated on the same host). Both are work on the same C cores, so the inter-node senders' share
        of them is that of ``M + (N − M)·κ_intra/κ(R)`` senders (:meth:`HostModel.comm_share`), not of M.
        Every rank crosses nodes under ``hierarchical`` and with one rank a node: M = N, nothing to add.
        """
        m = self.senders_across_nodes(scenario)
        n = self.ranks_on_host(scenario)
        return m + (n - m) * self.loopback_weight(scenario) if n > m else float(m)

    def loopback_weight(self, scenario: Scenario) -> float:
        """A loopback hop's host work per byte in inter-node senders' units: ``min(1, κ_intra/κ(R))`` (the intra-node
        link's host work per byte with one pair communicating over the inter-node link's at the scenario's rate;
        :meth:`host_senders`), 0 where the profile's links do not say (an older form, no fitted host work)."""
        algorithm = scenario.communication.algorithm
        name = "ring" if algorithm == "auto" else algorithm
        intra = self.links.get("intra", {}).get(name)
        inter = self.links.get("inter", {}).get(name)
        if not isinstance(intra, LinkModel) or not isinstance(inter, LinkModel) or inter.sharpness is None:
            return 0.0
        kappa = inter.host_per_byte_at(scenario.cluster.inter_node.bandwidth)
        if kappa <= 0:
            return 0.0
        loopback = intra.host_per_byte_s if intra.sharpness is not None else 1.0 / intra.bandwidth
        return min(1.0, loopback / kappa)

    def host_slowdown(self, scenario: Scenario) -> float:
        """Compute slowdown of a rank while the scenario's ranks that share its host compute at once."""
        h = self.host_model
        return h.slowdown(h.ranks_on_host(scenario)) if h is not None else 1.0

    def critical_pace(self, scenario: Scenario) -> float:
        """The critical rank's compute over the other ranks' on the shared host (:meth:`HostModel.critical_pace` of
        the ranks that share it); 1 without a host model."""
        h = self.host_model
        return h.critical_pace(h.ranks_on_host(scenario)) if h is not None else 1.0

    def has_compute_for(self, scenario: Scenario) -> bool:
        return self.has_compute or (self.compute_curve is not None and _mlp_shape(scenario) is not None)

    def compute_for(self, scenario: Scenario, micro_batch: int) -> tuple[float, float]:
        """(forward_s, backward_s) of a ``micro_batch``-sample micro-batch of the scenario's model on its testbed.

        An MLP is priced on the compute curve from its ``layers × hidden``; another model
        needs the per-model fit (``forward``/``backward``). Either is multiplied by the
        host slowdown of the ranks sharing the host.
        """
        shape = _mlp_shape(scenario)
        if self.compute_curve is not None and shape is not None:
            fwd, bwd = self.compute_curve.time(shape[0], shape[1], micro_batch)
        else:
            fwd, bwd = self.compute_time(micro_batch)
        slow = self.host_slowdown(scenario)
        return fwd * slow, bwd * slow

    def optimizer_for(self, scenario: Scenario, parameters: float) -> float:
        """Optimizer step time on the testbed: every rank steps at once (:meth:`optimizer_slowdown`).

        The step's work is the linear fit (``optimizer``: ``optimizer.step()`` on 1, 4 and 16 M parameters,
        each after a write of twice the last-level cache, so its state streams from memory), without page
        faults (since stop 52 the calibration takes none: tensors of 1 M, the heap kept) and on the thread's CPU
        clock (the step's work alone; sharing is the slowdown's). In training the step is cold: it follows the
        gradient synchronisation, during which the other ranks, the backend's threads and the kernel's
        network work ran on the same cores, so its state is no longer in the caches. The ranks'
        optimizer CPU per parameter on the emulated cluster (median 3.9–6.9 ns in seven sessions, flat
        in ranks and width) is the step alone after a 256 MiB write (4.4–4.9 ns), not the step right
        after a backward that ``optimizer_curve`` times (2.9–5.4: warm), which no longer prices it. To
        that comes the first touch of the memory glibc maps afresh for the step's temporaries
        (:func:`optimizer_first_touch`).
        """
        return (self.optimizer_time(parameters) + self.optimizer_first_touch(scenario)) * self.optimizer_slowdown(
            scenario
        )

    def optimizer_first_touch(self, scenario: Scenario) -> float:
        """Seconds one rank's optimizer step spends faulting in the pages glibc maps afresh for it, alone.

        :func:`dpsim.allocator.optimizer_fresh_bytes` pages at the host model's ``page_fault``
        (0 without a host model or a measured fault).
        """
        h = self.host_model
        if h is None or h.page_fault_s <= 0:
            return 0.0
        return first_touch_seconds(optimizer_fresh_bytes(scenario), h.page_fault_s)

    def optimizer_slowdown(self, scenario: Scenario) -> float:
        """How much slower each rank's optimizer step runs while the ranks sharing its host step at once.

        The ranks leave the gradient synchronisation together, so their optimizer steps take turns
        on the host's cores (:meth:`HostModel.optimizer_slowdown`).
        """
        h = self.host_model
        return h.optimizer_slowdown(h.ranks_on_host(scenario)) if h is not None else 1.0

    def overlap_backward(self, scenario: Scenario, backward_s: Any, overlapped_bytes: float) -> Any:
        """Backward time of the last micro-batch when its buckets' communication overlaps it on a shared host.

        Processor sharing: in the backward window every rank on the host needs its backward's
        CPU time ``b₀`` (``backward_s`` without the time-slicing factor) plus its
        communication threads' ``κ·traffic``; ``C`` cores serve them, so the window lasts
        ``max(backward_s, (N·b₀ + M·κ·traffic)/C)``, with M the ranks whose traffic crosses
        nodes plus the loopback hops' work in their units (:meth:`host_senders`; κ is the host's work
        per byte through the emulated network at the scenario's rate, :meth:`HostModel.comm_cpu_per_byte_at`;
        loopback's is far smaller). ``traffic`` is what a rank sends for
        the ``overlapped_bytes`` of gradient reduced during the backward (the closed form's
        bandwidth coefficient).

        The window carries only the traffic the wire lets through in it: a sender moves a byte per
        τ (the link's time per byte, :meth:`link`) and spends κ of CPU on it, so its communication
        keeps ``u = κ/τ`` of a core busy. Where the M senders leave cores over (``M·u < C``) and the
        wire, not the host, paces their traffic, the window is at most ``N·b₀/(C − M·u)`` — the
        fixed point of ``W = (N·b₀ + M·κ·min(traffic, W/τ))/C``: the rest of the overlapped traffic
        goes out after it, at the link's pace, priced by the link (a 3-rank all-reduce of a
        6.6 MB bucket at 200 Mbit/s lasts 0.4 s; charging all its CPU inside a 17 ms backward
        moved the later buckets' start by 40 ms). Where the host binds (``M·u ≥ C``) the whole
        form holds. Works on floats and numpy arrays alike.
        """
        host = self.host_model
        kappa = host.comm_cpu_per_byte_at(scenario.cluster.inter_node.bandwidth) if host is not None else 0.0
        if host is None or kappa <= 0 or overlapped_bytes <= 0:
            return backward_s
        n = host.ranks_on_host(scenario)
        traffic = self.bytes_across_nodes(scenario, overlapped_bytes)
        alone = backward_s / host.slowdown(n)
        senders = self.host_senders(scenario)
        window = (n * alone + senders * kappa * traffic) / host.cores
        busy = self._sender_busy(scenario, kappa)
        if busy is not None and host.cores > senders * busy:  # the wire paces the traffic the window carries
            window = np.minimum(window, n * alone / (host.cores - senders * busy))
        return np.maximum(backward_s, window)

    def _sender_busy(self, scenario: Scenario, kappa: float) -> float | None:
        """``u = κ/τ``: the share of a core one sender's communication keeps busy while its traffic flows at the
        link's time per byte τ (:meth:`link` at the scenario's rate and ranks); None without a fitted link."""
        algorithm = scenario.communication.algorithm
        streams = scenario.cluster.workers_per_node if algorithm == "hierarchical" else 1
        link = self.link("inter", profile_link_name(scenario, self), scenario.cluster.inter_node.bandwidth,
                         self.host_senders(scenario), streams)  # fmt: skip
        return kappa * link.bandwidth / streams if link is not None else None

    def comm_rate_in_backward(self, scenario: Scenario) -> float:
        """The pace of DDP's buckets' communication while the last backward still runs, as a share of its own.

        The cores serve the N backward threads (a core's demand each) and the M senders (``u = κ/τ`` each) with
        max-min fairness (:meth:`HostModel.fair_level`, the kernel's fair scheduler): a sender gets
        ``min(u, L)`` of a core, so its communication runs at ``min(1, L/u)`` of its own pace, and a backward
        thread gets ``min(1, L)`` (:meth:`overlap_backward_compute`); this is the same sharing seen from the
        communication's side (:func:`dpsim.buckets.slowed_end`). 1 without host contention. Stop 39 shared in
        proportion to demand, ``C/(N + M·u)`` for everyone: the same where the senders are host-bound (u near
        1), but where the wire paces them (the link-bound testbed since stop 41, u ≈ 0.15 at 1 Gbit/s) it ran
        8 ranks' first bucket at 0.22 of its pace where a thread that sleeps on its socket keeps it (plain DDP
        ``plain-ddp-2026-12-06-n``: 6-8 ranks +8 … +15 %).
        """
        host = self.host_model
        kappa = host.comm_cpu_per_byte_at(scenario.cluster.inter_node.bandwidth) if host is not None else 0.0
        if host is None or kappa <= 0:
            return 1.0
        busy = self._sender_busy(scenario, kappa) or 0.0
        if busy <= 0:
            return 1.0
        level = host.fair_level(host.ranks_on_host(scenario), self.host_senders(scenario), busy)
        return min(1.0, level / busy)

    def overlap_backward_compute(self, scenario: Scenario, backward_s: Any, overlapped_bytes: float) -> Any:
        """The backward's own share of the :meth:`overlap_backward` window: when its last gradient is ready.

        In the window the host's cores serve the N ranks' backward threads (one core's demand
        each) and the M senders' communication threads, each busy ``u = κ/τ`` of the time (κ
        the host's CPU per byte sent, τ the link's time per byte at the scenario's rate and
        ranks: :meth:`link`). Max-min fairness (:meth:`HostModel.fair_level`) gives a backward thread
        ``min(1, L)`` of a core, so the backward alone (``backward_s`` over its compute-only
        time-slicing ``max(1, N/C)``) takes ``max(1, 1/L)/max(1, N/C)`` times as long — at most
        the window. Where the senders' demand fits under the level (the wire paces them) that is
        ``N·b₀/(C − M·u)``, the paced window itself: the backward ends with it. What the window
        lasts beyond it is the host finishing the communication threads' work: communication the
        backward did not hide, counted as exposed communication, as the runtime measures it
        (compute ends when the last bucket is ready).
        """
        window = self.overlap_backward(scenario, backward_s, overlapped_bytes)
        host = self.host_model
        kappa = host.comm_cpu_per_byte_at(scenario.cluster.inter_node.bandwidth) if host is not None else 0.0
        if host is None or kappa <= 0 or overlapped_bytes <= 0:
            return window
        n, senders = host.ranks_on_host(scenario), self.host_senders(scenario)
        busy = self._sender_busy(scenario, kappa) or 0.0  # u = κ/τ
        # a backward thread gets min(1, L) of a core (HostModel.fair_level), alone C/N of one at most
        level = host.fair_level(n, senders, busy)
        stretch = (1.0 / level if level < 1.0 else 1.0) if level > 0 else math.inf
        stretch /= max(1.0, n / host.cores)
        return np.minimum(window, backward_s * stretch)

    def residuals(self) -> dict[str, float]:
        """Worst relative residual of every fit in the profile, by name."""
        out = {f"links.{cls}.{alg}": link.residual for cls, algs in self.links.items() for alg, link in algs.items()
               if isinstance(link, LinkModel)}  # fmt: skip
        for cls, algs in self.links.items():
            for alg, link in algs.items():
                if isinstance(link, LinkModel) and link.sharpness is not None:
                    out[f"links.{cls}.{alg}{LATENCY_SUFFIX}"] = link.latency_residual
        if self.host_model is not None:
            out["host"] = self.host_model.residual
            if self.host_model.memory_streams is not None:
                out["host.optimizer"] = self.host_model.optimizer_residual
        out.update({f"{k}": float(v) for k, v in self.meta.get("fit_residuals", {}).items() if k not in out})
        return out


def _log_interp(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """Piecewise-linear interpolation of ``ys`` in log x, held at the ends (``xs`` ascending)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    w = (math.log(x) - math.log(xs[i - 1])) / (math.log(xs[i]) - math.log(xs[i - 1]))
    return (1 - w) * ys[i - 1] + w * ys[i]


def _mlp_shape(scenario: Scenario) -> tuple[int, int] | None:
    m = scenario.model
    if m.kind == "mlp" and m.layers > 0 and m.hidden > 0:
        return m.layers, m.hidden
    return None


# --- YAML with units ------------------------------------------------------------------------------


def _exact(value: float, unit: str, scales: Sequence[tuple[str, float]]) -> str:
    """Readable text ``"<n> <prefix><unit>"`` that parses back to exactly ``value``."""
    texts = []
    for prefix, scale in scales:  # largest prefix first
        scaled = value / scale
        if abs(scaled) >= 1 and scaled * scale == value:
            texts.append((abs(scaled) >= 1000, len(repr(scaled)), f"{scaled!r} {prefix}{unit}"))
    # prefer a prefix that puts the number in [1, 1000), then the shortest text
    return min([*texts, (True, len(repr(value)) + 100, f"{value!r} {unit}")])[2]


def _time_text(seconds: float) -> str:
    return _exact(seconds, "s", (("", 1.0), ("m", 1e-3), ("u", 1e-6), ("n", 1e-9)))


def _rate_text(bytes_per_s: float) -> str:
    return _exact(bytes_per_s, "B/s", (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0)))


def _size_text(num_bytes: float) -> str:
    return _exact(num_bytes, "B", (("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10), ("", 1.0)))


def _duration(text: object, positive: bool = False) -> float:
    """A time read from a profile (:func:`parse_time`): never negative (``positive``: never zero either)."""
    value = parse_time(text)
    if value < 0 or (positive and value == 0):
        raise UnitError(f"{str(text)[:40]!r}: a measured time must be {'> 0' if positive else '>= 0'}")
    return value


def _rate(text: object) -> float:
    """A bandwidth read from a profile (:func:`parse_bandwidth`): greater than zero."""
    value = parse_bandwidth(text)
    if value <= 0:
        raise UnitError(f"{str(text)[:40]!r}: a measured bandwidth must be > 0")
    return value


def _slowdowns(data: Any, where: str, source: str) -> dict[int, float]:
    """``{processes: slowdown}`` of a host model: process counts >= 1, slowdowns in [1e-6, 1e6] (absent: none).

    A process count may be written as text of digits (``"2": 1.3``), as JSON writes every key: the same profile
    as JSON was refused (``processes >= 1, got '1'``)."""
    if data is None:
        return {}
    if not isinstance(data, dict):  # `''`, `0` or `[]` were read as no measurement
        raise ScenarioError(where, f"expected {{processes: slowdown}}, got {brief(data)}", source)
    out: dict[int, float] = {}
    for key, value in data.items():
        count = int(key) if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 9 else key
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ScenarioError(where, f"expected {{processes: slowdown}} with processes >= 1, got {key!r}", source)
        if count in out:
            raise ScenarioError(where, f"{count} processes are given twice ({key!r})", source)
        expected = f"a finite slowdown > 0 (from {MIN_FRACTION:g} to {1 / MIN_FRACTION:g})"
        _check_number(value, f"{where}.{key}", source, expected, low=MIN_FRACTION, high=1 / MIN_FRACTION, closed=True)
        out[count] = float(value)
    return out


def _algorithm_key(alg: Any, where: str, source: str) -> str:
    """A fitted link's or curve's algorithm: the engines look one up by the algorithm the scenario runs
    (:func:`profile_link_name`: ``auto`` reads the ring's), so one under any other name
    (``rinng``, ``Ring``, ``auto``, ``1``) is never read, and the scenario ran on the catalog's links unsaid."""
    import difflib

    from dpsim.scenario import ALGORITHMS

    names = [a for a in ALGORITHMS if a != "auto"]
    if isinstance(alg, str) and alg in names:
        return alg
    close = difflib.get_close_matches(str(alg).lower(), names, n=1) if isinstance(alg, str) else []
    hint = f"did you mean {close[0]}?" if close else ""
    if alg == "auto":
        hint = "auto reads the ring's: write it under ring"
    raise ScenarioError(
        f"{where}.{safe_text(str(alg))[:60]}",
        f"not an algorithm a scenario runs (expected one of {', '.join(names)}){'; ' + hint if hint else ''}",
        source,
    )


def _collectives_from_yaml(data: Any, source: str) -> dict[str, dict[str, dict[str, tuple[LinkSegment, ...]]]]:
    out: dict[str, dict[str, dict[str, tuple[LinkSegment, ...]]]] = {}
    if data is None:
        return out
    if not isinstance(data, dict):
        raise ScenarioError("collectives", f"expected link class: algorithm: collective: [...], got {data!r}", source)
    for cls, algs in data.items():
        if cls not in LINK_CLASSES:
            raise ScenarioError(f"collectives.{cls}", f"link class must be one of {', '.join(LINK_CLASSES)}", source)
        if not isinstance(algs, dict):
            raise ScenarioError(f"collectives.{cls}", f"expected algorithm: collective: [...], got {algs!r}", source)
        for alg, ops in algs.items():
            _algorithm_key(alg, f"collectives.{cls}", source)
            if not isinstance(ops, dict):
                raise ScenarioError(f"collectives.{cls}.{alg}", f"expected collective: [...], got {ops!r}", source)
            for op, segments in ops.items():
                where = f"collectives.{cls}.{alg}.{op}"
                if op not in COLLECTIVE_OPS:
                    raise ScenarioError(where, f"collective must be one of {', '.join(COLLECTIVE_OPS)}", source)
                if not isinstance(segments, list) or not segments:
                    raise ScenarioError(where, "expected a non-empty list of {from, latency, bandwidth}", source)
                parsed = []
                for i, seg in enumerate(segments):
                    if not isinstance(seg, dict) or set(seg) != {"from", "latency", "bandwidth"}:
                        raise ScenarioError(f"{where}[{i}]", f"expected {{from, latency, bandwidth}}, got {seg!r}",
                                            source)  # fmt: skip
                    try:
                        link = Link(_duration(seg["latency"]), _rate(seg["bandwidth"]))
                        parsed.append(LinkSegment(parse_size(seg["from"]), link))
                    except UnitError as exc:
                        raise ScenarioError(f"{where}[{i}]", str(exc), source) from None
                if any(b.from_bytes <= a.from_bytes for a, b in itertools.pairwise(parsed)):
                    raise ScenarioError(where, "segments must be in ascending 'from' order", source)
                out.setdefault(str(cls), {}).setdefault(str(alg), {})[str(op)] = tuple(parsed)
    return out


def _ready_from_yaml(data: Any, source: str) -> tuple[tuple[float, float], ...]:
    if data is None:
        return ()
    where = "gradient_ready"
    if not isinstance(data, list) or not all(isinstance(p, list) and len(p) == 2 for p in data):
        raise ScenarioError(where, "expected a list of [bytes fraction, backward fraction] pairs", source)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for p in data for v in p):
        bad = next(v for p in data for v in p if isinstance(v, bool) or not isinstance(v, (int, float)))
        raise ScenarioError(where, f"fractions must be numbers, got {brief(bad)}", source)
    points = tuple((float(x), float(y)) for x, y in data)
    if any(not (0.0 <= v <= 1.0) for p in points for v in p):
        raise ScenarioError(where, "fractions must lie in [0, 1]", source)
    if any(b[0] < a[0] or b[1] < a[1] for a, b in itertools.pairwise(points)):
        raise ScenarioError(where, "both fractions must be non-decreasing", source)
    return points


def _linear_to_yaml(lt: LinearTime | None, per: str) -> dict[str, str] | None:
    if lt is None:
        return None
    return {"fixed": _time_text(lt.fixed_s), per: _time_text(lt.per_unit_s)}


def _linear_from_yaml(data: Any, per: str, where: str, source: str) -> LinearTime | None:
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) != {"fixed", per}:
        raise ScenarioError(where, f"expected {{fixed: <time>, {per}: <time>}}, got {data!r}", source)
    try:
        return LinearTime(_duration(data["fixed"]), _duration(data[per]))
    except UnitError as exc:
        raise ScenarioError(where, str(exc), source) from None


MAX_STEP_OVERHEAD_S = 60.0
"""Largest ``compute.step_overhead`` a profile may hold: a minute of host work a step is no measurement of one."""


def _step_overhead_from_yaml(compute: Mapping[str, Any], source: str) -> float | None:
    """``compute.step_overhead`` (:attr:`HardwareProfile.step_overhead_s`): absent or null, None; else a time with
    a unit, 0 .. :data:`MAX_STEP_OVERHEAD_S` (a bare number, NaN, a negative time or another type: one line naming
    the field)."""
    value = compute.get("step_overhead")
    if value is None:
        return None
    where = "compute.step_overhead"
    try:
        seconds = _duration(value)
    except (TypeError, ValueError, UnitError) as exc:
        raise ScenarioError(where, f"expected a time >= 0 with a unit: {exc}", source) from None
    if not math.isfinite(seconds) or seconds > MAX_STEP_OVERHEAD_S:
        raise ScenarioError(where, f"expected 0 .. {MAX_STEP_OVERHEAD_S:g} s a step, got {brief(value)}", source)
    return seconds


def _link_to_yaml(link: Link) -> dict[str, Any]:
    out: dict[str, Any] = {"latency": _time_text(link.latency_s), "bandwidth": _rate_text(link.bandwidth)}
    if isinstance(link, LinkModel):
        if link.efficiency is not None:
            out["efficiency"] = link.efficiency
            out["cpu_per_byte"] = _time_text(link.cpu_per_byte_s)
        if link.sharpness is not None:
            out["host_per_byte"] = _time_text(link.host_per_byte_s)
            out["sharpness"] = link.sharpness
        if link.pair_per_byte_s > 0:
            out["pair_per_byte"] = _time_text(link.pair_per_byte_s)
        if link.host_per_byte_by_rate:
            out["host_per_byte_by_rate"] = [[_rate_text(r), _time_text(k)] for r, k in link.host_per_byte_by_rate]
        if link.sharpness is not None:
            out["latency_residual"] = link.latency_residual
        out["residual"] = link.residual
        out["samples"] = link.samples
    return out


_LINK_KEYS = {"latency", "bandwidth", "efficiency", "cpu_per_byte", "residual", "samples", "host_per_byte",
              "sharpness", "host_per_byte_by_rate", "latency_residual", "pair_per_byte"}  # fmt: skip


def _check_number(
    value: Any, where: str, source: str, expected: str, *, low: float, high: float = math.inf, closed: bool = False
) -> None:
    """A model term read from a profile: a finite number above ``low`` (or at it, ``closed``), at most ``high``, and
    not a denormal (:func:`dpsim.inputs.float_problem`, the scenario's rule)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (not isinstance(value, float) or float_problem(value) is None)
    if not ok or not (value >= low if closed else value > low) or value > high:
        raise ScenarioError(where, f"expected {expected}, got {brief(value)}", source)


def _link_from_yaml(spec: Any, where: str, source: str) -> Link:
    unknown = sorted(str(k) for k in spec if k not in _LINK_KEYS) if isinstance(spec, dict) else []
    if unknown:
        raise ScenarioError(
            f"{where}.{safe_text(unknown[0])[:60]}",
            f"unknown key (expected one of: {', '.join(sorted(_LINK_KEYS))})",
            source,
        )
    if not isinstance(spec, dict) or not {"latency", "bandwidth"} <= set(spec):
        raise ScenarioError(
            where, f"expected {{latency: <time>, bandwidth: <rate>}} (optionally efficiency, cpu_per_byte, "
            f"host_per_byte, sharpness, host_per_byte_by_rate, pair_per_byte, residual, samples), got {brief(spec)}",
            source,
        )  # fmt: skip
    for key, parse in (("latency", _duration), ("bandwidth", _rate), ("cpu_per_byte", _duration),
                       ("host_per_byte", _duration), ("pair_per_byte", _duration)):  # fmt: skip  # names its key
        try:
            if key in spec:
                parse(spec[key])
        except (UnitError, TypeError, ValueError) as exc:
            raise ScenarioError(f"{where}.{key}", str(exc), source) from None
    try:
        latency, bandwidth = _duration(spec["latency"]), _rate(spec["bandwidth"])
        if set(spec) == {"latency", "bandwidth"}:
            return Link(latency, bandwidth)
        efficiency = spec.get("efficiency")
        if efficiency is not None:
            _check_number(efficiency, f"{where}.efficiency", source, f"a fraction in [{MIN_FRACTION:g}, 1]",
                          low=MIN_FRACTION, high=1.0, closed=True)  # fmt: skip  # the scenario's Fraction
        if spec.get("sharpness") is not None:
            _check_number(spec["sharpness"], f"{where}.sharpness", source, "a p-norm exponent >= 1", low=1.0,
                          closed=True)  # fmt: skip
        for key in ("residual", "latency_residual"):
            _check_number(spec.get(key, 0.0), f"{where}.{key}", source, "a finite relative error >= 0", low=0.0,
                          closed=True)  # fmt: skip
        samples = spec.get("samples", 0)
        try:
            samples = _whole(samples, low=0)  # 36.0 is 36 samples, as 256.0 is a hidden size of 256
        except ValueError:
            raise ScenarioError(f"{where}.samples", f"expected a count of samples >= 0, got {brief(samples)}",
                                source) from None  # fmt: skip
        by_rate = _by_rate_from_yaml(spec.get("host_per_byte_by_rate"), f"{where}.host_per_byte_by_rate", source)
        cpu = _duration(spec["cpu_per_byte"]) if "cpu_per_byte" in spec else 0.0
        host = [_duration(spec["host_per_byte"]) if "host_per_byte" in spec else 0.0, *(k for _, k in by_rate)]
        pair = _duration(spec["pair_per_byte"]) if "pair_per_byte" in spec else 0.0
        if spec.get("sharpness") is not None and efficiency is None and cpu <= 0 and pair <= 0 and min(host) <= 0:
            # no wire term (an unshaped link without a pair's own pace): a byte costs the host's κ alone, and κ 0
            # priced the link at an infinite rate (a ZeroDivisionError in LinkModel.at_rate)
            raise ScenarioError(f"{where}.host_per_byte", "expected a time > 0 per byte: a link without an efficiency "
                                "(no shaped wire) is as fast as its host's time per byte, and 0 s (here or in "
                                "host_per_byte_by_rate) is an infinite bandwidth", source)  # fmt: skip
        return LinkModel(
            latency, bandwidth,
            float(efficiency) if efficiency is not None else None,
            _duration(spec["cpu_per_byte"]) if "cpu_per_byte" in spec else 0.0,
            float(spec.get("residual", 0.0)), samples,
            _duration(spec["host_per_byte"]) if "host_per_byte" in spec else 0.0,
            float(spec["sharpness"]) if spec.get("sharpness") is not None else None,
            by_rate,
            float(spec.get("latency_residual", 0.0)),
            pair,
        )  # fmt: skip
    except ScenarioError:
        raise
    except (UnitError, TypeError, ValueError) as exc:
        raise ScenarioError(where, str(exc), source) from None


def _whole(value: Any, low: int = 1) -> int:
    """A whole number of at least ``low`` read from a profile (1.0 is fine, 256.7 and .inf are not)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value != int(value) or not low <= value <= 2**53:
        raise ValueError(f"expected a whole number >= {low}, got {value!r}")
    return int(value)


def _curve_from_yaml(data: Any, source: str) -> ComputeCurve | None:
    if data is None:
        return None
    where = "compute.curve"
    if not isinstance(data, list):
        raise ScenarioError(where, f"expected a list of points, got {data!r}", source)
    _known_point_keys(data, where, ("hidden", "micro_batch", "layers", "forward", "backward"), source)
    try:
        points = tuple(
            ComputePoint(_whole(d["hidden"]), _whole(d["micro_batch"]), _whole(d["layers"]),
                         _duration(d["forward"], positive=True), _duration(d["backward"], positive=True))
            for d in data
        )  # fmt: skip
        if any(min(pt.hidden, pt.micro_batch, pt.layers) <= 0 for pt in points):
            raise ValueError("hidden, micro_batch and layers must be positive")
        return ComputeCurve(points)
    except (KeyError, TypeError, ValueError, UnitError) as exc:
        raise ScenarioError(where, f"expected {{hidden, micro_batch, layers, forward, backward}} points: {exc}",
                            source) from None  # fmt: skip


def _known_point_keys(points: list[Any], where: str, keys: Sequence[str], source: str) -> None:
    """Each of a curve's ``points`` a mapping of ``keys`` alone (round 35: an unknown key was dropped without a word,
    and a point written as a list was "list indices must be integers or slices, not str")."""
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise ScenarioError(f"{where}.{i}", f"expected {{{', '.join(keys)}}}, got {brief(point)}", source)
        unknown = [k for k in point if k not in keys]
        if unknown:
            raise ScenarioError(f"{where}.{i}.{safe_text(str(unknown[0]))[:60]}",
                                f"unknown key (expected one of: {', '.join(keys)})", source)  # fmt: skip


def _optimizer_curve_from_yaml(data: Any, source: str) -> tuple[tuple[int, float], ...]:
    if data is None:
        return ()
    where = "optimizer_curve"
    if not isinstance(data, list):  # `''` or `{}` were read as no curve
        raise ScenarioError(where, f"expected a list of {{hidden, per_parameter}}, got {brief(data)}", source)
    _known_point_keys(data, where, ("hidden", "per_parameter"), source)
    try:
        points = tuple((_whole(d["hidden"]), _duration(d["per_parameter"])) for d in data)
    except (KeyError, TypeError, ValueError, UnitError) as exc:
        raise ScenarioError(where, f"expected a list of {{hidden, per_parameter}}: {exc}", source) from None
    if any(b[0] <= a[0] for a, b in itertools.pairwise(points)) or any(h <= 0 for h, _ in points):
        raise ScenarioError(where, "hidden must be positive and ascending", source)
    return points


def _by_rate_from_yaml(data: Any, where: str, source: str) -> tuple[tuple[float, float], ...]:
    """``[[rate, time], ...]`` with rates ascending (absent: empty); a unit error is the caller's to name."""
    by_rate = [] if data is None else data  # `''`, `{}` or `-0.0` were read as no pairs
    if not isinstance(by_rate, list) or not all(isinstance(p, list) and len(p) == 2 for p in by_rate):
        raise ScenarioError(where, "expected a list of [rate, time] pairs", source)
    pairs = tuple((_rate(r), _duration(k)) for r, k in by_rate)
    if any(b[0] <= a[0] for a, b in itertools.pairwise(pairs)):
        raise ScenarioError(where, "rates must be in ascending order", source)
    return pairs


def _host_from_yaml(data: Any, source: str) -> HostModel | None:
    if data is None:
        return None
    where = "host_model"
    keys = {
        "cores",
        "efficiency_loss",
        "shared_by",
        "comm_cpu_per_byte",
        "residual",
        "measured_slowdown",
        "memory_streams",
        "optimizer_slowdown",
        "optimizer_residual",
        "page_fault",
        "comm_cpu_per_byte_by_rate",
        "comm_efficiency_loss",
        "slowest_slowdown",
        "optimizer_slowest_slowdown",
    }
    expected = f"expected {{{', '.join(sorted(keys))}}} with cores"
    if not isinstance(data, dict):
        raise ScenarioError(where, f"{expected}, got {brief(data)}", source)
    unknown = sorted(str(k) for k in data if k not in keys)
    if unknown:
        raise ScenarioError(f"{where}.{safe_text(unknown[0])[:60]}", f"unknown key: {expected}", source)
    if "cores" not in data:
        raise ScenarioError(f"{where}.cores", f"missing: {expected}", source)
    if data.get("shared_by", "job") not in ("job", "node"):
        raise ScenarioError(f"{where}.shared_by", f"expected job or node, got {brief(data.get('shared_by'))}", source)
    _check_number(data["cores"], f"{where}.cores", source, f"a number of cores >= {MIN_FRACTION:g}",
                  low=MIN_FRACTION, closed=True)  # fmt: skip  # 1e-320 cores: a port of rate 0, a traceback
    for key in ("efficiency_loss", "comm_efficiency_loss"):
        if key == "efficiency_loss" or data.get(key) is not None:
            _check_number(data.get(key, 0.0), f"{where}.{key}", source,
                          f"a loss per extra process in [0, {MAX_EFFICIENCY_LOSS:g}]", low=0.0,
                          high=MAX_EFFICIENCY_LOSS, closed=True)  # fmt: skip
    for key in ("residual", "optimizer_residual"):
        _check_number(data.get(key, 0.0), f"{where}.{key}", source, "a finite relative error >= 0", low=0.0,
                      closed=True)  # fmt: skip
    measured = _slowdowns(data.get("measured_slowdown"), f"{where}.measured_slowdown", source)
    optimizer_measured = _slowdowns(data.get("optimizer_slowdown"), f"{where}.optimizer_slowdown", source)
    slowest = _slowdowns(data.get("slowest_slowdown"), f"{where}.slowest_slowdown", source)
    optimizer_slowest = _slowdowns(data.get("optimizer_slowest_slowdown"), f"{where}.optimizer_slowest_slowdown",
                                   source)  # fmt: skip
    if data.get("memory_streams") is not None:
        _check_number(data["memory_streams"], f"{where}.memory_streams", source, "a number of streams >= 1", low=1.0,
                      closed=True)  # fmt: skip
    try:
        by_rate = _by_rate_from_yaml(data.get("comm_cpu_per_byte_by_rate"), f"{where}.comm_cpu_per_byte_by_rate",
                                     source)  # fmt: skip
    except ScenarioError:  # a ValueError too: it was wrapped in itself (its file and field said twice), round 35
        raise
    except (TypeError, ValueError, UnitError) as exc:
        raise ScenarioError(f"{where}.comm_cpu_per_byte_by_rate", str(exc), source) from None
    try:
        page_fault = _duration(data.get("page_fault", "0 s"))
    except (TypeError, ValueError, UnitError) as exc:
        raise ScenarioError(f"{where}.page_fault", f"expected a time per page fault >= 0: {exc}", source) from None
    try:
        comm_cpu_per_byte = _duration(data.get("comm_cpu_per_byte", "0 s"))
    except (TypeError, ValueError, UnitError) as exc:
        raise ScenarioError(f"{where}.comm_cpu_per_byte", f"expected a CPU time per byte >= 0: {exc}", source) from None
    try:
        return HostModel(
            float(data["cores"]), float(data.get("efficiency_loss", 0.0)), str(data.get("shared_by", "job")),
            comm_cpu_per_byte,
            measured,
            float(data.get("residual", 0.0)),
            float(data["memory_streams"]) if data.get("memory_streams") is not None else None,
            optimizer_measured,
            float(data.get("optimizer_residual", 0.0)),
            by_rate,
            page_fault,
            float(data["comm_efficiency_loss"]) if data.get("comm_efficiency_loss") is not None else None,
            slowest,
            optimizer_slowest,
        )  # fmt: skip
    except (TypeError, ValueError, UnitError) as exc:
        raise ScenarioError(where, str(exc), source) from None


def profile_to_dict(profile: HardwareProfile) -> dict[str, Any]:
    """Plain data with units in text, as written to YAML."""
    links = {cls: {alg: _link_to_yaml(link) for alg, link in algs.items()} for cls, algs in profile.links.items()}
    data: dict[str, Any] = {"name": profile.name, "backend": profile.backend, "host": profile.host, "links": links}
    if profile.reduction_bandwidth is not None:
        data["reduction_bandwidth"] = _rate_text(profile.reduction_bandwidth)
    compute: dict[str, Any] = {
        k: v
        for k, v in (
            ("forward", _linear_to_yaml(profile.forward, "per_sample")),
            ("backward", _linear_to_yaml(profile.backward, "per_sample")),
        )
        if v is not None
    }
    if profile.step_overhead_s is not None:
        compute["step_overhead"] = _time_text(profile.step_overhead_s)
    if profile.compute_curve is not None:
        compute["curve"] = [
            {"hidden": p.hidden, "micro_batch": p.micro_batch, "layers": p.layers,
             "forward": _time_text(p.forward_s), "backward": _time_text(p.backward_s)}
            for p in profile.compute_curve.points
        ]  # fmt: skip
    if compute:
        data["compute"] = compute
    if profile.optimizer is not None:
        data["optimizer"] = _linear_to_yaml(profile.optimizer, "per_parameter")
    if profile.optimizer_curve:
        data["optimizer_curve"] = [
            {"hidden": int(h), "per_parameter": _time_text(v)} for h, v in profile.optimizer_curve
        ]
    if profile.collectives:
        data["collectives"] = {
            cls: {
                alg: {
                    op: [
                        {
                            "from": _size_text(seg.from_bytes),
                            "latency": _time_text(seg.link.latency_s),
                            "bandwidth": _rate_text(seg.link.bandwidth),
                        }
                        for seg in segments
                    ]
                    for op, segments in ops.items()
                }
                for alg, ops in algs.items()
            }
            for cls, algs in profile.collectives.items()
        }
    if profile.gradient_ready:
        data["gradient_ready"] = [[float(x), float(y)] for x, y in profile.gradient_ready]
    if profile.host_model is not None:
        h = profile.host_model
        data["host_model"] = {
            "cores": h.cores, "efficiency_loss": h.efficiency_loss, "shared_by": h.shared_by,
            "comm_cpu_per_byte": _time_text(h.comm_cpu_per_byte_s), "residual": h.residual,
            "measured_slowdown": {int(k): float(v) for k, v in sorted(h.measured.items())},
        }  # fmt: skip
        if h.memory_streams is not None:
            data["host_model"].update(
                memory_streams=h.memory_streams, optimizer_residual=h.optimizer_residual,
                optimizer_slowdown={int(k): float(v) for k, v in sorted(h.optimizer_measured.items())},
            )  # fmt: skip
        if h.comm_cpu_per_byte_by_rate:
            data["host_model"]["comm_cpu_per_byte_by_rate"] = [
                [_rate_text(r), _time_text(k)] for r, k in h.comm_cpu_per_byte_by_rate
            ]
        if h.page_fault_s > 0:
            data["host_model"]["page_fault"] = _time_text(h.page_fault_s)
        if h.comm_efficiency_loss is not None:
            data["host_model"]["comm_efficiency_loss"] = h.comm_efficiency_loss
        if h.measured_slowest:
            data["host_model"]["slowest_slowdown"] = {int(k): float(v) for k, v in sorted(h.measured_slowest.items())}
        if h.optimizer_measured_slowest:
            data["host_model"]["optimizer_slowest_slowdown"] = {
                int(k): float(v) for k, v in sorted(h.optimizer_measured_slowest.items())
            }
    data["calibrated_on"] = list(profile.calibrated_on)
    data["meta"] = json.loads(json.dumps(dict(profile.meta), default=str))  # plain YAML types only
    return data


_PLAN_NUMBERS = ("ranks", "sizes", "intra_sizes", "rates_bytes_per_s", "curve_hiddens", "curve_micro_batches")
"""The lists of numbers in a profile's ``meta.plan`` (what was benchmarked) that ``dpsim validate`` reads to tell
held-out cases from calibrated ones (:func:`runtime.validate.calibration_overlap`)."""


def _meta_mapping(meta: Mapping[str, Any], key: str, expected: str, source: str) -> dict[str, Any] | None:
    """``meta[key]`` where dpsim reads it back: absent (None) or a mapping, else an error naming ``meta.<key>``."""
    value = meta.get(key)
    if value is not None and not isinstance(value, dict):
        raise ScenarioError(f"meta.{key}", f"expected {expected}, got {brief(value)}", source)
    return value


META_TEXTS = ("testbed", "model", "tcp_congestion_control")
"""``meta`` entries that are texts: ``validate_emulated --pool`` compares them, ``runtime.validate`` compares the TCP
control with the runs' and prints it."""


def _meta_from_yaml(data: Any, source: str) -> dict[str, Any]:
    """``meta``: free-form notes, but for the entries dpsim reads back, checked here at load: ``fit_residuals``
    (:meth:`HardwareProfile.residuals`: name → a relative error >= 0, ``.inf`` where the fit failed),
    ``fit_worst_points`` (:data:`WORST_POINT_FIELDS`, read by :func:`check_residuals`), ``plan``
    (:data:`_PLAN_NUMBERS`), and since round 29 the texts of :data:`META_TEXTS`, ``cores`` (a whole number >= 1,
    ``runtime.calibrate.refit_links``) and ``benchmark_uncertainty`` (name → a relative half width >= 0, printed by
    ``validate_emulated.py``). A ``plan: [1]`` gave a traceback in ``validate --profile`` after every case was
    measured, with its runs written."""
    meta = dict(data or {})
    residuals = _meta_mapping(meta, "fit_residuals", "{fit: relative residual}", source)
    for name, value in (residuals or {}).items():
        if value != math.inf:  # a fit that failed (runtime.calibrate records it so, and writes the profile)
            _check_number(value, f"meta.fit_residuals.{safe_text(str(name))[:60]}", source,
                          "a relative error >= 0 (.inf: the fit failed)", low=0.0, closed=True)  # fmt: skip
    worst = _meta_mapping(meta, "fit_worst_points", "{fit: its worst point}", source)
    for name, point in (worst or {}).items():
        where = f"meta.fit_worst_points.{safe_text(str(name))[:60]}"
        needed = [k for k in WORST_POINT_FIELDS if k != "rate_bytes_per_s"]
        if not isinstance(point, dict) or any(k not in point for k in needed):
            raise ScenarioError(where, f"expected {{{', '.join(WORST_POINT_FIELDS)}}}, got {brief(point)}", source)
        _check_number(point["ranks"], f"{where}.ranks", source, "a rank count >= 1", low=1.0, closed=True)
        _check_number(point["size_bytes"], f"{where}.size_bytes", source, "a size > 0", low=0.0)
        if point.get("rate_bytes_per_s") is not None:
            _check_number(point["rate_bytes_per_s"], f"{where}.rate_bytes_per_s", source, "a rate > 0", low=0.0)
        _check_number(point["error"], f"{where}.error", source, "a relative error > -1", low=-1.0)
        _check_number(point["median_uncertainty"], f"{where}.median_uncertainty", source,
                      "a relative uncertainty >= 0", low=0.0, closed=True)  # fmt: skip
        if point.get(BEYOND_SCATTER) is not None:
            _check_number(point[BEYOND_SCATTER], f"{where}.{BEYOND_SCATTER}", source,
                          "a relative error >= 0", low=0.0, closed=True)  # fmt: skip
    for key in META_TEXTS:  # round 29: compared and printed (a list compared as its str, an escape code printed)
        value = meta.get(key)
        if value is not None and not (isinstance(value, str) and value.isprintable()):
            raise ScenarioError(f"meta.{key}", f"expected a printable text, got {brief(value)}", source)
    if meta.get("cores") is not None:  # round 29: --refit's int() of it: "x" a ValueError traceback, 2.5 read as 2
        cores = meta["cores"]
        _check_number(cores, "meta.cores", source, "a whole number of cores >= 1", low=1.0, high=1 << 20, closed=True)
        if cores != int(cores):
            raise ScenarioError("meta.cores", f"expected a whole number of cores >= 1, got {brief(cores)}", source)
    uncertainty = _meta_mapping(meta, "benchmark_uncertainty", "{points: relative half width}", source)
    for name, value in (uncertainty or {}).items():  # round 29: printed as 100 * value: a text was a traceback
        _check_number(value, f"meta.benchmark_uncertainty.{safe_text(str(name))[:60]}", source,
                      "a relative half width >= 0", low=0.0, closed=True)  # fmt: skip
    plan = _meta_mapping(meta, "plan", "a mapping of what was benchmarked", source)
    if plan is not None:
        for key in _PLAN_NUMBERS:
            values = plan.get(key)
            if values is None:
                continue
            if not isinstance(values, list):
                raise ScenarioError(f"meta.plan.{key}", f"expected a list of numbers, got {brief(values)}", source)
            for i, value in enumerate(values):
                _check_number(value, f"meta.plan.{key}[{i}]", source, "a finite number >= 0", low=0.0, closed=True)
    _pace_from_yaml(meta, source)
    refreshes = meta.get("refreshes")  # round 34: `dpsim calibrate --refresh` appends to it, after timing
    if refreshes is not None and not (isinstance(refreshes, list) and all(isinstance(r, dict) for r in refreshes)):
        raise ScenarioError("meta.refreshes", f"expected a list of refresh records, got {brief(refreshes)}", source)
    # round 34: a null mapping is an absent one (its readers take `meta.get(key, {})`: `fit_residuals:` with no value
    # was a traceback once a refresh had timed its parts)
    return {key: value for key, value in meta.items() if not (value is None and key in _READ_BACK_MAPPINGS)}


def _pace_from_yaml(meta: Mapping[str, Any], source: str) -> None:
    """``meta.reference_pace`` (:data:`REFERENCE_PACE`) where present: a mapping with a printable ``kernel`` and a
    list of ``probes``, each with every key of :data:`PACE_PROBE_KEYS`: ``part`` a printable text, ``attempt`` a whole
    number >= 1, ``at`` ``before`` or ``after``, ``t_s`` a finite time >= 0 and ``kernel_s`` a finite time > 0
    (the gate divides by it, validate compares runs with it)."""
    pace = _meta_mapping(meta, REFERENCE_PACE, "{kernel, started_utc, probes}", source)
    if pace is None:
        return
    where = f"meta.{REFERENCE_PACE}"
    for key in ("kernel", "started_utc"):
        value = pace.get(key)
        if (value is not None or key == "kernel") and not (isinstance(value, str) and value.isprintable()):
            raise ScenarioError(f"{where}.{key}", f"expected a printable text, got {brief(value)}", source)
    probes = pace.get("probes")
    if not isinstance(probes, list):
        raise ScenarioError(f"{where}.probes", f"expected a list of probes, got {brief(probes)}", source)
    for i, probe in enumerate(probes):
        at = f"{where}.probes[{i}]"
        if not isinstance(probe, dict) or any(k not in probe for k in PACE_PROBE_KEYS):
            raise ScenarioError(at, f"expected {{{', '.join(PACE_PROBE_KEYS)}}}, got {brief(probe)}", source)
        if not (isinstance(probe["part"], str) and probe["part"].isprintable() and 0 < len(probe["part"]) <= 60):
            raise ScenarioError(f"{at}.part", f"expected a printable name, got {brief(probe['part'])}", source)
        attempt = probe["attempt"]
        if type(attempt) is not int or not 1 <= attempt <= 1000:
            raise ScenarioError(f"{at}.attempt", f"expected a whole number in [1, 1000], got {brief(attempt)}", source)
        if probe["at"] not in ("before", "after"):
            raise ScenarioError(f"{at}.at", f"expected before or after, got {brief(probe['at'])}", source)
        _check_number(probe["t_s"], f"{at}.t_s", source, "a time >= 0 (s)", low=0.0, closed=True)
        _check_number(probe["kernel_s"], f"{at}.kernel_s", source, "a time > 0 (s)", low=0.0)


_READ_BACK_MAPPINGS = ("fit_residuals", "fit_worst_points", "benchmark_uncertainty", "plan", "refreshes",
                       REFERENCE_PACE)  # fmt: skip
"""``meta`` entries dpsim reads back as a mapping (a list, ``refreshes``), where a null stands for none."""


def profile_from_dict(data: Any, source: str = "<profile>") -> HardwareProfile:
    """Validate profile data read from YAML (errors name the field, like scenarios)."""
    if not isinstance(data, dict):
        raise ScenarioError("", f"a hardware profile must be a mapping, got {type(data).__name__}", source)
    known = {"name", "backend", "host", "host_model", "links", "reduction_bandwidth", "compute", "optimizer",
             "optimizer_curve",
             "calibrated_on", "meta", "collectives", "gradient_ready"}  # fmt: skip
    for key in data:
        if key not in known:
            raise ScenarioError(str(key), f"unknown key (expected one of: {', '.join(sorted(known))})", source)
    measured = ("links", "compute", "optimizer", "optimizer_curve", "collectives", "gradient_ready", "host_model",
                "reduction_bandwidth")  # fmt: skip
    if not any(data.get(key) for key in measured):  # `{}` or a name alone: a run "calibrated" by it used the catalog
        raise ScenarioError("", f"a hardware profile with nothing measured: expected one of {', '.join(measured)}",
                            source)  # fmt: skip
    for key, kind, expected in (
        ("links", dict, "{link class: {algorithm: link}}"),
        ("meta", dict, "a mapping"),
        ("calibrated_on", list, "a list of configurations"),
    ):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise ScenarioError(key, f"expected {expected}, got {data[key]!r}", source)
    for key in ("name", "backend", "host"):
        if data.get(key) is not None:
            try:
                printable_name(data[key] if isinstance(data[key], str) else "", 200)
            except ValueError as exc:
                raise ScenarioError(key, str(exc), source) from None
            if not isinstance(data[key], str):
                raise ScenarioError(key, f"expected text, got {type(data[key]).__name__}", source)
    for i, label in enumerate(data.get("calibrated_on") or ()):  # labels a report and `validate` print
        try:
            printable_name(label if isinstance(label, str) else "", 4096)
        except ValueError as exc:
            raise ScenarioError(f"calibrated_on[{i}]", str(exc), source) from None
        if not isinstance(label, str):
            raise ScenarioError(f"calibrated_on[{i}]", f"expected a configuration's label (text), got {brief(label)}",
                                source)  # fmt: skip
    links: dict[str, dict[str, Link]] = {}
    for cls, algs in (data.get("links") or {}).items():
        if cls not in LINK_CLASSES:
            raise ScenarioError(f"links.{cls}", f"link class must be one of {', '.join(LINK_CLASSES)}", source)
        if not isinstance(algs, dict):
            raise ScenarioError(f"links.{cls}", f"expected algorithm: {{latency, bandwidth}}, got {algs!r}", source)
        links[cls] = {}
        for alg, spec in algs.items():
            name = _algorithm_key(alg, f"links.{cls}", source)
            links[cls][name] = _link_from_yaml(spec, f"links.{cls}.{alg}", source)
    reduction = data.get("reduction_bandwidth")
    try:
        reduction_bw = _rate(reduction) if reduction is not None else None
    except UnitError as exc:
        raise ScenarioError("reduction_bandwidth", str(exc), source) from None
    compute = {} if data.get("compute") is None else data["compute"]
    if not isinstance(compute, dict):  # `''`, `0` or `[]` were read as no compute measured
        raise ScenarioError("compute", f"expected forward/backward, got {compute!r}", source)
    parts = ("forward", "backward", "curve", "step_overhead")
    for key in compute:  # round 35: `curv:` (a misspelled curve) was dropped and the profile ran without its curve
        if key not in parts:
            hint = did_you_mean(str(key), parts) or f"expected one of: {', '.join(sorted(parts))}"
            raise ScenarioError(f"compute.{safe_text(str(key))[:60]}", f"unknown key ({hint})", source)
    return HardwareProfile(
        name=str(data["name"] if data.get("name") is not None else "profile"),  # null: no name (was 'None')
        backend=str(data["backend"] if data.get("backend") is not None else ""),
        host=str(data["host"] if data.get("host") is not None else ""),
        compute_curve=_curve_from_yaml(compute.get("curve"), source),
        host_model=_host_from_yaml(data.get("host_model"), source),
        links=links,
        reduction_bandwidth=reduction_bw,
        forward=_linear_from_yaml(compute.get("forward"), "per_sample", "compute.forward", source),
        backward=_linear_from_yaml(compute.get("backward"), "per_sample", "compute.backward", source),
        optimizer=_linear_from_yaml(data.get("optimizer"), "per_parameter", "optimizer", source),
        optimizer_curve=_optimizer_curve_from_yaml(data.get("optimizer_curve"), source),
        calibrated_on=tuple(str(c) for c in data.get("calibrated_on") or ()),
        collectives=_collectives_from_yaml(data.get("collectives"), source),
        gradient_ready=_ready_from_yaml(data.get("gradient_ready"), source),
        step_overhead_s=_step_overhead_from_yaml(compute, source),
        meta=_meta_from_yaml(data.get("meta"), source),
        source=source,
    )


def save_profile(profile: HardwareProfile, path: str | Path) -> None:
    """Write ``profile`` as YAML with units (whole or not at all, never through a link: :mod:`dpsim.outputs`)."""
    from dpsim.inputs import dump_yaml
    from dpsim.outputs import replaced

    text = dump_yaml(profile_to_dict(profile))
    with replaced(path, "profile") as tmp:
        tmp.write_text(text, encoding="utf-8")


MAX_EFFICIENCY_LOSS = 100.0
"""Largest ``host_model.efficiency_loss`` a profile may hold (each extra process 100x slower; fits give < 1)."""
PROFILE_MAX_BYTES = 16 << 20
"""Largest profile file read (16 MiB)."""


def load_profile(path: str | Path) -> HardwareProfile:
    """Read a profile written by :func:`save_profile`; errors are :class:`ScenarioError`."""
    from dpsim import inputs  # the input boundary: regular files only, size cap, UTF-8, YAML 1.2

    source = str(path)
    data = inputs.load_yaml(inputs.read_text(path, source, limit=PROFILE_MAX_BYTES), source)
    return profile_from_dict(data, source)


@functools.lru_cache(maxsize=32)
def _cached_profile(path: str, mtime_ns: int) -> HardwareProfile:
    del mtime_ns  # part of the cache key only: a rewritten file is read again
    return load_profile(path)


def profile_for(scenario: Scenario) -> HardwareProfile | None:
    """The profile ``scenario.calibration.profile`` names (cached by path and mtime), or None."""
    if scenario.calibration is None:
        return None
    path = scenario.calibration.profile
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError as exc:
        raise ScenarioError("calibration.profile", f"cannot read profile: {exc.strerror or exc}", path) from None
    try:
        profile = _cached_profile(path, mtime)
    except ScenarioError as exc:
        if exc.field:  # a field inside the profile: named as it is there
            raise
        raise ScenarioError("calibration.profile", exc.message, exc.source) from None  # the file itself
    _refuse_nccl_settings_unread(scenario, profile, path)
    return profile


def profile_link_name(scenario: Scenario, profile: Any = None) -> str:
    """The algorithm whose fitted links a calibration profile gives the scenario (``auto``: the ring's; ``backend``:
    the backend's own collectives as measured, gloo's or NCCL's — on GPUs a calibration stores NCCL's as
    ``backend``).

    ``tree`` over a data-parallel group of 2 reads the ring's links where ``profile`` has them: on 2 ranks NCCL's
    double binary tree (``ncclGetDtree``, :func:`dpsim.sim.collectives.nccl.dtree_forks`) is one edge per tree,
    each rank the root of one and the leaf of the other, so no rank forwards what it received; each sends the
    other half its vector and returns the sum, which is the 2-rank ring's reduce-scatter and all-gather chunk for
    chunk (S each way). The tree's own fit (η about 0.77 on the emulated cluster, 3 and 4 ranks at 1.5·S and 2·S
    each way) holds its forwarding ranks' pace, which 2 ranks do not have: measured, 2-rank trees ran 1.07–1.40 ×
    S/R and 2-rank rings 1.03–1.15 × (validation-2026-12-06-q's calibration), against 1.3 × the tree's fit
    prices. A profile whose ring links do not cover every link the tree has fitted keeps the tree's
    (:func:`_ring_covers_tree`)."""
    if scenario.communication.algorithm == "backend":
        return "backend"
    algorithm = algorithm_of(scenario)
    if algorithm == "tree" and scenario.data_parallel == 2 and (profile is None or _ring_covers_tree(profile)):
        return "ring"
    return "ring" if algorithm == "auto" else algorithm


def _ring_covers_tree(profile: Any) -> bool:
    """Whether ``profile`` has ring links (a fit or size regimes) wherever it has the tree's, and some: a 2-rank
    tree read on them loses none of the tree's measured links."""

    def fitted(link: str, name: str) -> bool:
        return profile.link(link, name) is not None or bool(profile.regimes(link, name))

    classes = ("intra", "inter")
    return any(fitted(c, "ring") for c in classes) and all(fitted(c, "ring") or not fitted(c, "tree") for c in classes)


def profile_replaces_links(scenario: Scenario, profile: Any) -> bool:
    """Whether ``profile`` has fitted links or size regimes for the scenario's algorithm
    (:func:`profile_link_name`): then :func:`calibrated_fabric` prices every collective of the step on them, with
    ``protocol: none`` (the fits already hold the measured per-step costs), and none of NCCL's settings is read."""
    name = profile_link_name(scenario, profile)
    return any(profile.link(link, name) is not None or profile.regimes(link, name) for link in ("intra", "inter"))


def unread_beside_fitted_links(scenario: Scenario, profile: Any) -> dict[str, str]:
    """Fields only NCCL's model reads that a profile's fitted links leave unread (:func:`profile_replaces_links`),
    each with why: ``cluster.cpu_vendor`` (round 31), read by NCCL's tuner alone (its network overhead and LL
    ceiling), where :meth:`~dpsim.scenario.Scenario.cpu_vendor_unread` does not already list it. The step (both
    engines, :func:`dpsim.analytic.step.unread_under_profile`) and ``dpsim collective`` list them; the same step to
    the bit whatever it says (``tests/test_ignored_fields.py``). A hardware description, so listed, not refused as
    NCCL's own settings are (:func:`_refuse_nccl_settings_unread`)."""
    if (
        profile is None
        or scenario.cluster.cpu_vendor is None
        or scenario.cpu_vendor_unread()
        or not profile_replaces_links(scenario, profile)
    ):
        return {}
    return {
        "cluster.cpu_vendor": (
            f"read only by NCCL's tuner, and calibration.profile has fitted {profile_link_name(scenario, profile)} "
            "links that price every collective on their measured alpha-beta without it"
        )
    }


def profile_mismatch(scenario: Scenario, profile: HardwareProfile | None) -> str:
    """Why ``profile`` does not describe the scenario's devices, or '' where it may: a gloo profile (CPU ranks:
    ``runtime.calibrate`` and a CPU ``torchrun`` write ``backend: gloo``) under a catalog GPU, whose DDP, ZeRO and
    FSDP run NCCL (:attr:`dpsim.scenario.ClusterConfig.nccl_backend`), or an NCCL profile (GPUs) under
    ``cluster.device: cpu`` (gloo). The step is then priced on the other machine's compute and links: the
    default scenario (64 A100s) with the emulated testbed's gloo profile took 787 s a step, where its catalog step is
    0.69 s. A profile without a backend (written by hand) or a custom device (which names no hardware, the emulated
    testbed's CPU ranks among them) is not judged. Kept as a warning (record and stderr), not refused: the engines'
    agreement under a profile is checked on GPU scenarios (``agreement_fuzz.py --wide``)."""
    if profile is None:
        return ""
    cluster = scenario.cluster
    measured = {"gloo": "gloo on CPU ranks", "nccl": "NCCL on GPUs"}.get(profile.backend)
    runs = "NCCL" if cluster.nccl_backend else "gloo" if cluster.gloo else ""
    if measured is None or not runs or profile.backend == runs.lower():
        return ""
    where = ", ".join(f"{key} {safe_text(str(profile.meta[key]))[:60]}" for key in ("device", "testbed")
                      if isinstance(profile.meta.get(key), str))  # fmt: skip
    return (
        f"calibration.profile {safe_text(profile.name)[:60]!r} was measured with {measured} (backend: "
        f"{profile.backend}{', ' + where if where else ''}), and cluster.device {cluster.device.preset} runs {runs}: "
        "the step is priced on the profile's compute and links, not this device's; calibrate on this device, or use "
        "the profile with the device it measured"
    )


def _refuse_nccl_settings_unread(scenario: Scenario, profile: HardwareProfile, path: str) -> None:
    """Refuse NCCL's settings (a named protocol, ``nccl_version``, ``nccl_algo``, ``nccl_proto``,
    ``nccl_buffsize``, the NVLS chunk variables, a tuner plugin's ``nccl_tuner``) beside a profile whose fitted links
    replace the scenario's for its algorithm (:func:`profile_replaces_links`): every collective of
    the step is then priced on the measured alpha-beta with ``protocol: none``, the same step to the bit whatever they
    say (they were accepted and read by nothing). A profile without links for the algorithm (compute only, or fitted
    for another algorithm) leaves NCCL's model, and its settings, in place."""
    from dpsim.scenario import NCCL_ENV_FIELDS

    c = scenario.communication
    named = ["protocol"] if c.protocol not in ("auto", "none") else []
    named += [n for n in NCCL_ENV_FIELDS if getattr(c, n) is not None]
    named += ["nccl_tuner"] if c.nccl_tuner != "nccl" else []
    if named and profile_replaces_links(scenario, profile):
        raise ScenarioError(
            f"communication.{named[0]}",
            f"is an NCCL setting, and calibration.profile has fitted {profile_link_name(scenario, profile)} links that "
            "price every collective of this step on their measured alpha-beta, without NCCL's protocols, buffers "
            "or tuner, so it changes nothing; leave it out, or the profile",
            path,
        )


def samples_by_link(samples: Iterable[CollectiveSample]) -> dict[tuple[str, str], list[CollectiveSample]]:
    """Group samples by (link class, algorithm) for fitting."""
    groups: dict[tuple[str, str], list[CollectiveSample]] = {}
    for s in samples:
        groups.setdefault((s.link_class, s.algorithm), []).append(s)
    return groups
