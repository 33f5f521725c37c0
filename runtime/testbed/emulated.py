"""An emulated cluster on one Linux host: one network namespace per node, shaped veth links.

Layout (needs root): a bridge namespace ``dpsim-<pid>-br`` holding bridge ``br0``; per
node a namespace ``dpsim-<pid>-n<i>`` whose ``eth0`` (198.18.0.<i+1>/24, from the
benchmarking range 198.18.0.0/15, RFC 2544) is one end of a veth pair, the other end
(``v<i>``) enslaved to the bridge. Token-bucket filters (``tc qdisc … tbf``) shape both
directions of every node link to the scenario's inter-node rate: egress of ``eth0``
(node → switch) and egress of ``v<i>`` (switch → node). Ranks of a node share its
namespace and reach each other over loopback (unshaped: the intra-node link). Gloo binds
to ``eth0`` (``GLOO_SOCKET_IFNAME``).

Latency is *measured* (TCP round trips between two node namespaces), not imposed: netem
is not available everywhere. Teardown deletes the namespaces (and with them every veth
and qdisc); it runs on close, at interpreter exit and on SIGINT/SIGTERM (the launcher
turns those into exceptions). Leftovers of crashed runs — ``dpsim-*`` namespaces whose
owning process is gone — are removed at the next start.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field

from runtime.testbed import Testbed

__all__ = ["EmulatedCluster", "RootRequired", "cleanup_leftovers", "dpsim_namespaces", "require_root"]

PREFIX = "dpsim-"
SUBNET = "198.18.0"
"""Node i gets 198.18.0.(i+1): inside the RFC 2544 benchmarking range 198.18.0.0/15."""
MASTER_PORT_BASE = 29400


class RootRequired(RuntimeError):
    """The emulated testbed needs root (network namespaces, tc) and the ip/tc tools."""


def require_root() -> None:
    """Raise :class:`RootRequired` with a message saying what to do instead."""
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if sys.platform != "linux" or os.geteuid() != 0 or missing:
        why = (
            "it runs only on Linux"
            if sys.platform != "linux"
            else f"the tools {', '.join(missing)} are missing (iproute2)"
            if missing
            else "it needs root (network namespaces and tc)"
        )
        raise RootRequired(f"the emulated testbed is unavailable: {why}; use --testbed local (loopback, unshaped)")


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def dpsim_namespaces() -> list[str]:
    """Names of all network namespaces created by dpsim (``dpsim-*``)."""
    out = _run("ip", "netns", "list", check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIX)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_leftovers(*, everything: bool = False) -> list[str]:
    """Delete ``dpsim-*`` namespaces of processes that no longer run (all of them if ``everything``)."""
    removed = []
    for name in dpsim_namespaces():
        match = re.match(rf"{PREFIX}(\d+)-", name)
        if everything or match is None or not _alive(int(match.group(1))):
            _run("ip", "netns", "del", name, check=False)
            removed.append(name)
    return removed


@dataclass
class EmulatedCluster(Testbed):
    """``nodes`` namespaces on a shaped bridge; ranks ``per_node`` at a time per namespace."""

    nodes: int = 2
    per_node: int = 1
    rate: float = 125e6
    """Per-direction shaped rate of every node link, bytes/s."""
    namespaces: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        require_root()
        if not 1 <= self.nodes <= 250:
            raise ValueError(f"nodes must be 1..250, got {self.nodes}")
        if self.rate <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")
        self.name = "emulated"
        self.link_rate = self.rate
        self.master_addr = f"{SUBNET}.1"
        self._tag = f"{PREFIX}{os.getpid()}"
        self._closed = False
        cleanup_leftovers()
        atexit.register(self.close)
        try:
            self._build()
            self.measured_latency_s = self.measure_latency() if self.nodes > 1 else None
        except BaseException:
            self.close()
            raise
        self.info = {
            "testbed": "emulated",
            "link_rate_bytes_per_s": self.rate,
            "measured_latency_s": self.measured_latency_s,
            "namespaces": list(self.namespaces),
        }

    def node_namespace(self, node: int) -> str:
        return f"{self._tag}-n{node}"

    def _build(self) -> None:
        bridge = f"{self._tag}-br"
        _run("ip", "netns", "add", bridge)
        self.namespaces.append(bridge)
        _run("ip", "-n", bridge, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", bridge, "link", "set", "br0", "up")
        bits = f"{round(self.rate * 8)}bit"
        # bucket: 2 ms at the rate, at least 128 KiB. Smaller buckets interact badly with GSO
        # segments (up to 64 KiB) and timer slack on a loaded VM (throughput collapses); larger
        # ones let whole small messages through at line rate. tbf counts whole frames, so TCP
        # payload gets ≈ 1448/1514 = 95.6 % of the rate.
        burst = f"{self.burst_bytes}b"
        for node in range(self.nodes):
            ns = self.node_namespace(node)
            _run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            _run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"v{node}", "netns", bridge)
            _run("ip", "-n", ns, "addr", "add", f"{SUBNET}.{node + 1}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            _run("ip", "-n", bridge, "link", "set", f"v{node}", "master", "br0")
            _run("ip", "-n", bridge, "link", "set", f"v{node}", "up")
            for where, dev in ((ns, "eth0"), (bridge, f"v{node}")):
                _run("tc", "-n", where, "qdisc", "add", "dev", dev, "root", "tbf", "rate", bits, "burst", burst,
                     "latency", "100ms")  # fmt: skip

    @property
    def burst_bytes(self) -> int:
        """tbf bucket size: bytes a link passes at line rate before the shaping rate applies."""
        return max(128 * 1024, round(self.rate * 0.002))

    def prefix(self, rank: int) -> list[str]:
        return ["ip", "netns", "exec", self.node_namespace(rank // self.per_node)]

    def env(self, rank: int) -> dict[str, str]:
        del rank
        return {"GLOO_SOCKET_IFNAME": "eth0"}

    def measure_latency(self, rounds: int = 50) -> float:
        """One-way latency between node 0 and node 1: half the median TCP round trip of 1 byte."""
        server = (
            "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
            f"s.bind(('{SUBNET}.2',{MASTER_PORT_BASE - 1}));s.listen(1);print('up',flush=True);c,_=s.accept();"
            "c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\n"
            "while (b:=c.recv(1)):\n c.sendall(b)"
        )
        client = (
            "import socket,time,statistics;s=socket.create_connection"
            f"(('{SUBNET}.2',{MASTER_PORT_BASE - 1}),timeout=5);"
            "s.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1);r=[]\n"
            f"for _ in range({rounds}):\n t=time.perf_counter();s.sendall(b'x');s.recv(1)\n"
            " r.append(time.perf_counter()-t)\n"
            "print(statistics.median(r))"
        )
        srv = subprocess.Popen(
            [*self.prefix(self.per_node), sys.executable, "-c", server], stdout=subprocess.PIPE, text=True
        )
        try:
            assert srv.stdout is not None
            srv.stdout.readline()
            out = _run(*self.prefix(0), sys.executable, "-c", client).stdout
            return statistics.median([float(out.split()[-1])]) / 2
        finally:
            srv.kill()
            srv.wait()

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for ns in reversed(self.namespaces):
            _run("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
        atexit.unregister(self.close)
