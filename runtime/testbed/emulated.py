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
is not available everywhere.

Teardown, under every failure: :meth:`EmulatedCluster.close` kills every process still
inside the cluster's namespaces (``ip netns pids``) and then deletes the namespaces (and
with them every veth and qdisc); it runs on close, at interpreter exit and on
SIGINT/SIGTERM/SIGHUP (the launcher turns those into exceptions). Against SIGKILL of the
launcher, which runs no code, a *reaper* — a small process started with the cluster, in
its own session — holds the read end of a pipe whose write end only the launcher has: when
the launcher dies the pipe closes and the reaper tears the cluster down. Leftovers of older
crashed runs — namespaces with this prefix whose owning process is gone — are removed at
the next start.

Namespace names are ``<prefix><pid>-br`` and ``<prefix><pid>-n<i>``; the prefix is
``dpsim-`` unless ``DPSIM_NETNS_PREFIX`` (or the ``prefix`` argument) says otherwise, so
parallel test runs can keep to their own.

TCP congestion control (``congestion_control``, else ``DPSIM_TCP_CC``, else the host's): a namespace starts with
the host's default (this project's VM: bbr), which sets how the ranks' flows share a shaped link. Named, every
route a node's TCP flows take (its subnet, its own address, loopback) carries it as the route's ``congctl``
(ip-route(8); the kernel's ``tcp_ca_dst_init`` gives a new socket its route's algorithm, before the namespace's
default), which works for every algorithm the kernel has (``tcp_available_congestion_control``): a namespace's
own default may only be one of the host's ``tcp_allowed_congestion_control`` (``tcp_set_default_congestion_control``
refuses the others outside the initial namespace with EPERM), and this VM allows only reno and bbr, not Linux's
default cubic. What the flows use is read back from a socket (:meth:`EmulatedCluster.congestion_control`) and
recorded in every run's ``extra.tcp_congestion_control``.

Ranks drop root where they can: the rank command runs under ``setpriv`` as the invoking
user (``SUDO_UID``/``SUDO_GID``) or ``nobody``, after the launcher has entered the namespace
(which needs root); set ``DPSIM_RANK_USER=root`` to keep root.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime.testbed import Testbed

__all__ = [
    "BURST_FLOOR_BYTES",
    "GSO_SKB_MAX_QDISC_BYTES",
    "LEGACY_BURST_FLOOR_BYTES",
    "BadEnvironment",
    "EmulatedCluster",
    "RootRequired",
    "burst_bytes",
    "check_environment",
    "chosen_congestion_control",
    "cleanup_leftovers",
    "congestion_controls",
    "dpsim_namespaces",
    "kill_namespace_processes",
    "netns_prefix",
    "remove_namespaces",
    "require_root",
]

PREFIX = "dpsim-"
"""Default namespace prefix (``DPSIM_NETNS_PREFIX`` overrides it)."""
PREFIX_ENV = "DPSIM_NETNS_PREFIX"
CC_ENV = "DPSIM_TCP_CC"
"""The nodes' TCP congestion control when ``EmulatedCluster.tcp_cc`` is not given ('' or unset: the host's)."""
RANK_USER_ENV = "DPSIM_RANK_USER"
SUBNET = "198.18.0"
"""Node i gets 198.18.0.(i+1): inside the RFC 2544 benchmarking range 198.18.0.0/15."""
MASTER_PORT_BASE = 29400


class RootRequired(RuntimeError):
    """The emulated testbed needs root (network namespaces, tc) and the ip/tc tools."""


class BadEnvironment(ValueError):
    """An environment variable the emulated testbed reads (``variable``; or the setting that stands for it, as
    ``EmulatedCluster.tcp_cc`` for ``DPSIM_TCP_CC``) holds a value it cannot use (``reason``)."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable, self.reason = variable, reason


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


def netns_prefix() -> str:
    """The namespace prefix of this process's clusters (``DPSIM_NETNS_PREFIX``, default ``dpsim-``)."""
    prefix = os.environ.get(PREFIX_ENV, PREFIX)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}-", prefix):
        raise BadEnvironment(PREFIX_ENV, f"expected letters/digits ending in '-' (e.g. 'dpsim-'), got {prefix!r}")
    return prefix


def chosen_congestion_control(tcp_cc: str = "") -> str:
    """The nodes' TCP congestion control: ``tcp_cc`` where given, else what ``DPSIM_TCP_CC`` names ('' where it is
    unset or empty: the host's). One the kernel lacks is a :class:`BadEnvironment` naming where it came from
    (``tcp_cc`` or the variable): one check and one message for both."""
    source, named = ("tcp_cc", tcp_cc) if tcp_cc else (CC_ENV, os.environ.get(CC_ENV, ""))
    if named and named not in congestion_controls():
        raise BadEnvironment(source, f"expected a TCP congestion control this kernel has "
                                     f"({', '.join(congestion_controls())}), got {named!r}")  # fmt: skip
    return named


def check_environment(tcp_cc: str = "") -> None:
    """Raise :class:`BadEnvironment` where a variable the testbed reads cannot be used (``DPSIM_NETNS_PREFIX``,
    ``DPSIM_TCP_CC``, ``DPSIM_RANK_USER``): the command line checks them before any work, as it checks its options,
    instead of a traceback from the first cluster it builds. ``tcp_cc``: the control the command passes to its
    clusters (``--tcp-cc``), which ``DPSIM_TCP_CC`` then does not decide (nor is it checked)."""
    netns_prefix()
    chosen_congestion_control(tcp_cc)
    _rank_user()


def dpsim_namespaces(prefix: str | None = None) -> list[str]:
    """Names of the network namespaces with ``prefix`` (default: :func:`netns_prefix`)."""
    prefix = prefix or netns_prefix()
    out = _run("ip", "netns", "list", check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix)]


def kill_namespace_processes(namespace: str) -> None:
    """SIGKILL every process inside ``namespace`` (before deleting it: a namespace with processes lingers)."""
    for _ in range(5):
        pids = [int(p) for p in _run("ip", "netns", "pids", namespace, check=False).stdout.split() if p.isdigit()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def remove_namespaces(names: list[str]) -> None:
    """Kill the processes inside each namespace, then delete it (veths and qdiscs go with it)."""
    for name in names:
        kill_namespace_processes(name)
    for name in names:
        _run("ip", "netns", "del", name, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_leftovers(*, everything: bool = False, prefix: str | None = None) -> list[str]:
    """Delete ``<prefix>*`` namespaces of processes that no longer run (all of them if ``everything``)."""
    prefix = prefix or netns_prefix()
    removed = []
    for name in dpsim_namespaces(prefix):
        match = re.match(rf"{re.escape(prefix)}(\d+)-", name)
        if everything or match is None or not _alive(int(match.group(1))):
            removed.append(name)
    remove_namespaces(removed)
    return removed


def _rank_user() -> tuple[int, int] | None:
    """(uid, gid) ranks run as: ``DPSIM_RANK_USER`` (a name, 'uid:gid' or 'root'), the sudo caller, or nobody."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    wanted = os.environ.get(RANK_USER_ENV, "")
    if wanted == "root":
        return None
    if wanted:
        if ":" in wanted:
            uid, gid = wanted.split(":", 1)
            if not (uid.isdigit() and gid.isdigit()):
                raise BadEnvironment(RANK_USER_ENV, f"expected a user name, 'uid:gid' in digits or 'root', got "
                                                    f"{wanted!r}")  # fmt: skip
            return int(uid), int(gid)
        import pwd

        try:
            entry = pwd.getpwnam(wanted)
        except KeyError:
            raise BadEnvironment(RANK_USER_ENV, f"no user {wanted!r} on this host (expected a user name, 'uid:gid' "
                                                "or 'root')") from None  # fmt: skip
        return entry.pw_uid, entry.pw_gid
    if os.environ.get("SUDO_UID") and os.environ.get("SUDO_GID"):
        return int(os.environ["SUDO_UID"]), int(os.environ["SUDO_GID"])
    return 65534, 65534  # nobody/nogroup


@dataclass
class EmulatedCluster(Testbed):
    """``nodes`` namespaces on a shaped bridge; ranks ``per_node`` at a time per namespace."""

    nodes: int = 2
    per_node: int = 1
    rate: float = 125e6
    """Per-direction shaped rate of every node link, bytes/s."""
    namespaces: list[str] = field(default_factory=list)
    prefix_name: str = ""
    """Namespace prefix ('' = :func:`netns_prefix`)."""
    drop_root: bool = True
    """Run ranks as an unprivileged user (see the module docstring) when possible."""
    tcp_cc: str = ""
    """TCP congestion control of the nodes' flows ('' = ``DPSIM_TCP_CC``, else the host's default, inherited)."""

    def __post_init__(self) -> None:
        require_root()
        self.prefix_name = self.prefix_name or netns_prefix()
        if not 1 <= self.nodes <= 250:
            raise ValueError(f"nodes must be 1..250, got {self.nodes}")
        if self.rate <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")
        self.tcp_cc = chosen_congestion_control(self.tcp_cc)
        self.name = "emulated"
        self.link_rate = self.rate
        self.master_addr = f"{SUBNET}.1"
        self._tag = f"{self.prefix_name}{os.getpid()}"
        self._closed = False
        self._reaper: subprocess.Popen[bytes] | None = None
        self._reaper_pipe = -1
        self.user = _rank_user() if self.drop_root else None
        cleanup_leftovers(prefix=self.prefix_name)
        atexit.register(self.close)
        try:
            self._start_reaper()
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
            "tcp_congestion_control": self.congestion_control(),
            "tcp_congestion_control_set": self.tcp_cc or None,
        }

    def _start_reaper(self) -> None:
        """A process that tears the cluster down if this one dies without doing so (e.g. SIGKILL)."""
        read_end, write_end = os.pipe()
        os.set_inheritable(read_end, True)
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "runtime.testbed.reaper", str(read_end), self._tag],
            pass_fds=(read_end,), start_new_session=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(read_end)
        self._reaper_pipe = write_end

    def node_namespace(self, node: int) -> str:
        return f"{self._tag}-n{node}"

    def _build(self) -> None:
        bridge = f"{self._tag}-br"
        _run("ip", "netns", "add", bridge)
        self.namespaces.append(bridge)
        _run("ip", "-n", bridge, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", bridge, "link", "set", "br0", "up")
        bits = f"{round(self.rate * 8)}bit"
        # bucket: far below every transfer the calibration measures for bandwidth (it fits β only
        # on messages ≥ 16 buckets), so the token bucket's line-rate start does not flatter
        # them, and above TCP's largest GSO skb, so tbf never segments in software (burst_bytes).
        # tbf counts whole frames, so TCP payload gets ≈ 1448/1514 = 95.6 % of the rate (the fitted η).
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
            if self.tcp_cc:
                self._route_congestion_control(ns, node)

    def _route_congestion_control(self, ns: str, node: int) -> None:
        """Every route the node's TCP flows take carries ``congctl tcp_cc``: the other nodes (the subnet), the
        node's own address (ranks of one node reach each other there) and loopback."""
        own = f"{SUBNET}.{node + 1}"
        for route in (
            [f"{SUBNET}.0/24", "dev", "eth0", "proto", "kernel", "scope", "link", "src", own],
            ["local", own, "dev", "eth0", "table", "local", "proto", "kernel", "scope", "host", "src", own],
            ["local", "127.0.0.0/8", "dev", "lo", "table", "local", "proto", "kernel", "scope", "host", "src",
             "127.0.0.1"],
            ["local", "127.0.0.1", "dev", "lo", "table", "local", "proto", "kernel", "scope", "host", "src",
             "127.0.0.1"],
        ):  # fmt: skip
            _run("ip", "-n", ns, "route", "replace", *route, "congctl", self.tcp_cc)

    def congestion_control(self) -> str:
        """The TCP congestion control a new socket of node 0 gets towards the other nodes (``TCP_CONGESTION``).

        Recorded with every run: it sets how the ranks' flows share a shaped link. On this project's VM (bbr) the
        ring all-reduce of 8 MiB at 50 Mbit/s took 1.23 x its busiest link's bytes over the rate at 4 and 8 ranks
        against 1.07 x with reno in the nodes, and its calls spread 10 % against 0.2 %. The socket is read, not the
        sysctl: a route's ``congctl`` comes before the namespace's default.
        """
        out = _run("ip", "netns", "exec", self.node_namespace(0), sys.executable, "-c", _CC_PROBE.format(
            address=f"{SUBNET}.{2 if self.nodes > 1 else 1}"), check=False)  # fmt: skip
        return out.stdout.strip() or "unknown"

    @property
    def burst_bytes(self) -> int:
        """tbf bucket size: bytes a link passes at line rate before the shaping rate applies."""
        return burst_bytes(self.rate)

    def prefix(self, rank: int) -> list[str]:
        place = ["ip", "netns", "exec", self.node_namespace(rank // self.per_node)]
        if self.user is None:
            return place
        uid, gid = self.user
        return [*place, "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--pdeathsig=KILL"]

    def grant(self, path: Path) -> None:
        """Let the ranks (possibly unprivileged) write under ``path``; keep root when the user cannot reach it.

        ``path`` is chowned to the rank user; if that user still cannot write there or run
        this interpreter and import this package (a parent folder closed to others, as
        pytest's), the ranks stay root — dropping root where they can, not breaking where
        they cannot.
        """
        if self.user is None:
            return
        for item in [path, *path.rglob("*")]:
            os.chown(item, *self.user)
        uid, gid = self.user
        probe = f"import os, sys, runtime; sys.exit(0 if os.access({str(path)!r}, os.W_OK | os.X_OK) else 1)"
        check = subprocess.run(
            ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", sys.executable, "-c", probe],
            capture_output=True, check=False, cwd=os.getcwd(),
        )  # fmt: skip
        if check.returncode != 0:
            self.info["ranks_run_as"] = f"root ({path} or this Python is not reachable for uid {uid})"
            self.user = None
        else:
            self.info["ranks_run_as"] = f"uid {uid}"

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
        remove_namespaces(list(reversed(self.namespaces)))
        self.namespaces.clear()
        if self._reaper_pipe >= 0:
            os.close(self._reaper_pipe)  # the reaper finds nothing left and exits
            self._reaper_pipe = -1
        if self._reaper is not None:
            try:
                self._reaper.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._reaper.kill()
                self._reaper.wait()
        atexit.unregister(self.close)


_CC_PROBE = (
    "import socket\n"
    "s = socket.socket()\n"
    "s.connect_ex(('{address}', 9))\n"  # the route's algorithm is set at connect, refused or not
    "print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(bytes(1)).decode())"
)


def congestion_controls() -> list[str]:
    """The TCP congestion controls this kernel has (``tcp_available_congestion_control``; [] off Linux)."""
    path = Path("/proc/sys/net/ipv4/tcp_available_congestion_control")
    return path.read_text().split() if path.exists() else []


GSO_SKB_MAX_QDISC_BYTES = 45 * 1448 + 66 + 44 * 66
"""The largest GSO skb TCP hands a node's qdisc here, as tbf counts it (``qdisc_pkt_len``): 45 segments of 1,448 B
(``tcp_tso_autosize`` caps an skb at ``gso_max_size`` 65,536 B, and at this testbed's RTT of tens of µs adds all of
it: ``gso_max_size >> (min_rtt >> tcp_tso_rtt_log)``, tcp_output.c) with one 66 B header (Ethernet 14, IPv4 20, TCP
with timestamps 32), plus the other 44 segments' headers (``qdisc_pkt_len_init``, net/core/dev.c): 68,130 B."""

BURST_FLOOR_BYTES = 72 * 1024
"""Smallest tbf bucket: above :data:`GSO_SKB_MAX_QDISC_BYTES`, so tbf never segments. ``tbf_enqueue``
(net/sched/sch_tbf.c) sends a GSO skb longer than its ``max_size`` (the burst) through ``tbf_segment`` →
``skb_gso_segment``: one 1,514 B frame per MSS through tbf, veth, the bridge and TCP's receive, 9–18 µs of host CPU
each on this project's VM, at a rate-dependent cost (tbf's watchdog re-arm). With the old 16 KiB floor the 4-rank
12.6 MB all-reduce was host-bound (+125 % over the link's time on average over 300–1300 Mbit/s, 600–750 Mbit/s
slower than 500); with 72 KiB it takes the link's time to 1.1 % on average
(``benchmarks/results/host-packet-cost-2026-12-06-n``)."""


LEGACY_BURST_FLOOR_BYTES = 16 * 1024
"""The smallest tbf bucket before stop 41: sessions stored then (records without ``tbf_burst_bytes``) were measured
with it (tbf segmented every skb: host-bound)."""


def burst_bytes(rate: float, floor: int = BURST_FLOOR_BYTES) -> int:
    """tbf bucket size at ``rate`` bytes/s: 0.25 ms of traffic, at least ``floor`` (:data:`BURST_FLOOR_BYTES`, 72 KiB:
    above TCP's largest GSO skb, so tbf passes every skb whole, as a NIC with TSO does; stop 41). Sessions stored
    before stop 41 were measured with :data:`LEGACY_BURST_FLOOR_BYTES`."""
    return max(floor, round(rate * 0.00025))
