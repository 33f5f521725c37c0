"""NCCL as configured: the scenario's algorithm and protocol as NCCL settings, and what NCCL says it did.

- :func:`nccl_settings`: ``communication.algorithm`` → ``NCCL_ALGO`` (ring → ``Ring``, tree →
  ``Tree``, nvls → ``NVLS``, nvls-tree → ``NVLSTree``; ``auto`` pins nothing; NCCL has no
  halving–doubling, direct, parameter-server or two-level hierarchical all-reduce, so those
  are refused when pinning is asked for) and ``communication.protocol`` → ``NCCL_PROTO``
  (``LL``, ``LL128``, ``Simple``) where the scenario has one. Pinning is opt-in
  (``python -m runtime --nccl-pin``, ``dpsim validate --nccl-pin`` under torchrun). NCCL
  reads both when a communicator is created (NCCL docs, "Environment Variables"), so they
  are set before ``init_process_group``.
- :func:`nccl_environment`: every ``NCCL_*`` variable the process sees, and
  :func:`nccl_version`: the version of the NCCL torch loaded (``torch.cuda.nccl.version()``).
- :func:`parse_nccl_debug`: with ``NCCL_DEBUG=INFO`` (and ``NCCL_DEBUG_SUBSYS=INIT,ENV,TUNING``)
  NCCL logs its version, the channels it built (``N coll channels, ...``; ``Channel 00/04 :``
  ring orders), environment overrides (``NCCL_ALGO set by environment to Ring``) and, on
  rank 0, the algorithm and protocol its tuner chose per collective call. That last line
  changed with the versions (NVIDIA/nccl ``src/enqueue.cc``; before 2.20 it was a TRACE,
  printed by debug builds only):

  - 2.20–2.22: ``<bytes> Bytes -> Algo <a> proto <p> time <us>`` (numeric ids, from
    ``src/include/device.h``: algorithms Tree 0, Ring 1, CollNetDirect 2, CollNetChain 3,
    NVLS 4, NVLSTree 5, PAT 6; protocols LL 0, LL128 1, Simple 2);
  - 2.23: the same, prefixed by the collective (``AllReduce: 4096 Bytes -> ...``);
  - 2.24 and later: ``AllReduce: <bytes> Bytes -> Algo RING proto SIMPLE channel{Lo..Hi}={0..15}``
    (names from ``ncclAlgoToString``/``ncclProtoToString``, and the channels the call ran on).

  ``NCCL_DEBUG_FILE`` sends the log to a file per process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario

__all__ = [
    "NCCL_ALGORITHMS",
    "NCCL_PROTOCOLS",
    "debug_settings",
    "nccl_environment",
    "nccl_settings",
    "nccl_version",
    "parse_nccl_debug",
]

NCCL_ALGORITHMS = {"ring": "Ring", "tree": "Tree", "nvls": "NVLS", "nvls-tree": "NVLSTree"}
"""dpsim all-reduce algorithms NCCL implements, by their NCCL_ALGO names (NVLS since NCCL 2.17, NVLSTree 2.18)."""
NCCL_PROTOCOLS = {"ll": "LL", "ll128": "LL128", "simple": "Simple"}
_ALGO_IDS = ("Tree", "Ring", "CollNetDirect", "CollNetChain", "NVLS", "NVLSTree", "PAT")
_PROTO_IDS = ("LL", "LL128", "Simple")


def nccl_settings(scenario: Scenario) -> dict[str, str]:
    """``NCCL_ALGO`` and ``NCCL_PROTO`` that make NCCL run the scenario's algorithm and protocol.

    ``auto`` and ``backend`` (the communicator's own choice: NCCL's on GPUs) pin nothing (NCCL's tuner chooses,
    as the scenario says); ``protocol: none``
    (the links' α–β, no NCCL protocol) pins no protocol. Raises ValueError for an algorithm
    NCCL does not have (a :class:`~dpsim.errors.ScenarioError`, a ValueError, naming the field).
    """
    algorithm = scenario.communication.algorithm
    out: dict[str, str] = {}
    if algorithm not in ("auto", "backend"):
        if algorithm not in NCCL_ALGORITHMS:
            raise ScenarioError(
                "communication.algorithm",
                f"{algorithm!r} has no NCCL equivalent (NCCL_ALGO offers {', '.join(sorted(NCCL_ALGORITHMS))}); run "
                "it with the point-to-point algorithms on gloo, or do not pin NCCL's algorithm",
                scenario.name,
            )
        out["NCCL_ALGO"] = NCCL_ALGORITHMS[algorithm]
    protocol = getattr(scenario.communication, "protocol", None)
    if isinstance(protocol, str) and protocol.lower() in NCCL_PROTOCOLS:
        out["NCCL_PROTO"] = NCCL_PROTOCOLS[protocol.lower()]
    return out


def debug_settings(log_dir: Path) -> dict[str, str]:
    """NCCL_DEBUG=INFO for initialisation and tuning decisions, one log file per host and process."""
    return {
        "NCCL_DEBUG": "INFO",
        "NCCL_DEBUG_SUBSYS": "INIT,ENV,TUNING",
        "NCCL_DEBUG_FILE": str(log_dir / "nccl.%h.%p.log"),
    }


def nccl_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every ``NCCL_*`` variable of the environment (what NCCL saw at communicator creation)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in sorted(env.items()) if k.startswith("NCCL_")}


def nccl_version() -> str | None:
    """Version of the NCCL library torch uses, or None (CPU-only build, or no NCCL)."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        version = torch.cuda.nccl.version()
    except Exception:  # CPU builds raise from the NCCL bindings
        return None
    if isinstance(version, tuple):
        return ".".join(str(v) for v in version[:3])
    code = int(version)
    return (
        f"{code // 10000}.{code // 100 % 100}.{code % 100}"
        if code >= 20900
        else f"{code // 1000}.{code // 100 % 10}.{code % 100}"
    )


_VERSION = re.compile(r"NCCL version (\d+\.\d+\.\d+)(?:\+cuda(\S+))?")
_CHANNELS = re.compile(
    r"(\d+) coll channels, (?:(\d+) collnet channels, )?(?:(\d+) nvls channels, )?(\d+) p2p channels"
)
_RING = re.compile(r"Channel (\d+)/(\d+) :\s+((?:\d+\s*)+)$")
_ENV_SET = re.compile(r"(NCCL_\w+) set by environment to (\S+)")
_TUNING = re.compile(
    r"(?:(\w+): )?(\d+) Bytes -> Algo (\w+) proto (\w+)(?: time ([\d.]+))?(?: channel\{Lo\.\.Hi\}=\{(\d+)\.\.(\d+)\})?"
)
_NAMES = {name.upper(): name for name in (*_ALGO_IDS, *_PROTO_IDS)} | {"NVLS_TREE": "NVLSTree",
          "COLLNET_DIRECT": "CollNetDirect", "COLLNET_CHAIN": "CollNetChain"}  # fmt: skip
"""``ncclAlgoToString``/``ncclProtoToString`` spellings (NCCL ≥ 2.24) → the NCCL_ALGO/NCCL_PROTO names."""


def _tuned(token: str, ids: tuple[str, ...]) -> str:
    if token.isdigit():
        return ids[int(token)] if int(token) < len(ids) else token
    return _NAMES.get(token.upper(), token)


_COMM = re.compile(r"nRanks (\d+) nNodes (\d+) localRanks (\d+)")


def parse_nccl_debug(text: str) -> dict[str, Any]:
    """NCCL's INFO log → version, channels, ring orders, environment overrides, tuner choices per size.

    ``tuning`` maps each call size (``"<Collective> <bytes>"`` where the log names the
    collective) to the algorithm and protocol (NCCL_ALGO/NCCL_PROTO spelling), and where the
    log says so the tuner's predicted time (µs) and the number of channels the call used.
    """
    out: dict[str, Any] = {}
    rings: dict[int, list[int]] = {}
    choices: dict[tuple[str, int], dict[str, Any]] = {}
    overrides: dict[str, str] = {}
    for line in text.splitlines():
        if (m := _VERSION.search(line)) and "version" not in out:
            out["version"] = m.group(1)
            if m.group(2):
                out["cuda"] = m.group(2)
        if m := _CHANNELS.search(line):
            out["coll_channels"] = int(m.group(1))
            if m.group(2) is not None:
                out["collnet_channels"] = int(m.group(2))
            if m.group(3) is not None:
                out["nvls_channels"] = int(m.group(3))
            out["p2p_channels"] = int(m.group(4))
        if m := _RING.search(line.rstrip()):
            rings[int(m.group(1))] = [int(r) for r in m.group(3).split()]
            out["channels"] = int(m.group(2))
        if m := _ENV_SET.search(line):
            overrides[m.group(1)] = m.group(2)
        if m := _COMM.search(line):
            out["ranks"], out["nodes"], out["local_ranks"] = (int(g) for g in m.groups())
        if m := _TUNING.search(line):
            func, size, algo, proto, time_us, lo, hi = m.groups()
            choice: dict[str, Any] = {"algorithm": _tuned(algo, _ALGO_IDS), "protocol": _tuned(proto, _PROTO_IDS)}
            if func:
                choice["collective"] = func
            if time_us is not None:
                choice["predicted_us"] = float(time_us)
            if lo is not None and hi is not None:
                choice["channels"] = int(hi) - int(lo) + 1
            choices[(func or "", int(size))] = choice
    if rings:
        out["rings"] = [rings[k] for k in sorted(rings)]
    if overrides:
        out["environment_overrides"] = overrides
    if choices:  # keyed "<bytes>" or, where NCCL names the collective, "<Collective> <bytes>"
        out["tuning"] = {(f"{func} {size}" if func else str(size)): choices[func, size]
                         for func, size in sorted(choices, key=lambda k: (k[1], k[0]))}  # fmt: skip
        out["algorithms"] = sorted({c["algorithm"] for c in choices.values()})
        out["protocols"] = sorted({c["protocol"] for c in choices.values()})
    return out
