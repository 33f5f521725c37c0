"""The emulated cluster: namespaces, shaping both ways, a small training run, teardown on every path.

Needs root on Linux (network namespaces, tc); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from runtime.testbed.emulated import RootRequired, dpsim_namespaces, netns_prefix, require_root

try:
    require_root()
    _why = ""
except RootRequired as exc:
    _why = str(exc)

pytestmark = [pytest.mark.root, pytest.mark.multiprocess, pytest.mark.skipif(bool(_why), reason=_why)]

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """\
name: tiny-emulated
model: {kind: mlp, layers: 3, hidden: 256, parameters: 197376, flops_per_sample: 1184256}
cluster:
  nodes: 2
  workers_per_node: 2
  device: {peak_flops: 10 GFLOP/s, memory: 1 GB}
  inter_node: {bandwidth: 100 Mbit/s, latency: 50 us}
training: {global_batch: 16, micro_batch: 4, optimizer: sgd, precision: fp32}
communication: {algorithm: hierarchical, bucket: 64 KiB}
"""


def _mine() -> list[str]:
    return [n for n in dpsim_namespaces() if n.startswith(f"{netns_prefix()}{os.getpid()}-")]


def test_cluster_shapes_both_directions_and_tears_down() -> None:
    from runtime.testbed.emulated import EmulatedCluster

    with EmulatedCluster(nodes=2, per_node=1, rate=12.5e6) as cluster:
        assert len(_mine()) == 3  # bridge + 2 nodes
        node = subprocess.run(["tc", "-n", cluster.node_namespace(1), "qdisc", "show", "dev", "eth0"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        bridge = subprocess.run(["tc", "-n", cluster.namespaces[0], "qdisc", "show", "dev", "v1"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert "tbf" in node and "rate 100Mbit" in node
        assert "tbf" in bridge and "rate 100Mbit" in bridge
        assert cluster.measured_latency_s is not None and cluster.measured_latency_s > 0
        assert cluster.prefix(1)[:4] == ["ip", "netns", "exec", cluster.node_namespace(1)]
        if cluster.user is not None:  # ranks drop root
            assert cluster.prefix(1)[4] == "setpriv" and f"--reuid={cluster.user[0]}" in cluster.prefix(1)
        assert cluster.env(0) == {"GLOO_SOCKET_IFNAME": "eth0"}
        assert cluster.master_addr.startswith("198.18.")
    assert _mine() == []


def test_cluster_records_the_nodes_tcp_congestion_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run records the congestion control its nodes' TCP flows use (it sets how they share a shaped link): a
    namespace starts with the host's default, and a node's own setting is what is read."""
    from runtime.testbed.emulated import EmulatedCluster

    monkeypatch.delenv("DPSIM_TCP_CC", raising=False)  # none named: the host's
    host = Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    with EmulatedCluster(nodes=2, per_node=1, rate=12.5e6) as cluster:
        assert cluster.info["tcp_congestion_control"] == host
        other = "reno" if host != "reno" else "bbr"
        subprocess.run(["ip", "netns", "exec", cluster.node_namespace(0), "sysctl", "-qw",
                        f"net.ipv4.tcp_congestion_control={other}"], check=True)  # fmt: skip
        assert cluster.congestion_control() == other
    assert _mine() == []


_BOTH_ENDS = """
import socket, sys, threading
server = socket.socket()
server.bind(("{listen}", 0))
server.listen(1)
port = server.getsockname()[1]
print(port, flush=True)
accepted = server.accept()[0]
name = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(bytes(1)).decode()
print(name, flush=True)
"""


def test_cluster_sets_the_nodes_tcp_congestion_control_on_both_ends_of_every_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``tcp_cc`` (or ``DPSIM_TCP_CC``) gives the nodes' flows a congestion control other than the host's through the
    routes' ``congctl``, whether or not the host allows it as a namespace default (cubic is not in this VM's
    ``tcp_allowed_congestion_control``): the connecting socket (``tcp_ca_dst_init``) and the accepted one
    (``tcp_ca_openreq_child``) both run it, between nodes and between two ranks of one node; what is recorded is
    what a socket reads. A control the kernel lacks is refused, naming what it has."""
    from runtime.testbed.emulated import CC_ENV, EmulatedCluster, congestion_controls

    host = Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    other = next(cc for cc in ("cubic", "reno", "bbr") if cc != host and cc in congestion_controls())
    monkeypatch.setenv(CC_ENV, other)
    with EmulatedCluster(nodes=2, per_node=2, rate=12.5e6) as cluster:
        assert cluster.info["tcp_congestion_control"] == other
        assert cluster.info["tcp_congestion_control_set"] == other
        for listen_node, address in ((1, "198.18.0.2"), (0, "198.18.0.1")):  # across nodes, inside node 0
            server = subprocess.Popen(
                ["ip", "netns", "exec", cluster.node_namespace(listen_node), sys.executable, "-c",
                 _BOTH_ENDS.format(listen=address)], stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert server.stdout is not None
            port = server.stdout.readline().strip()
            client = (
                f"import socket; s = socket.create_connection(('{address}', {port})); "
                "print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(bytes(1)).decode())"
            )
            out = subprocess.run(["ip", "netns", "exec", cluster.node_namespace(0), sys.executable, "-c", client],
                                 capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
            assert out == other
            assert server.stdout.readline().strip() == other
            server.wait(timeout=10)
    monkeypatch.delenv(CC_ENV)
    with pytest.raises(ValueError, match=r"tcp_cc: expected a TCP congestion control this kernel has .*'no-such-cc'"):
        EmulatedCluster(nodes=1, rate=12.5e6, tcp_cc="no-such-cc")
    assert _mine() == []


def test_leftovers_of_a_dead_run_are_removed_at_the_next_start() -> None:
    from runtime.testbed.emulated import EmulatedCluster

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = f"{netns_prefix()}{dead.pid}-n0"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        with EmulatedCluster(nodes=1, rate=12.5e6):
            assert stale not in dpsim_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)
    assert _mine() == []


def test_training_run_on_the_emulated_cluster(tmp_path: Path) -> None:
    from dpsim.scenario import load_scenario
    from runtime.job import JobOptions
    from runtime.launch import launch
    from runtime.testbed.emulated import EmulatedCluster

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    with EmulatedCluster(nodes=2, per_node=2, rate=scenario.cluster.inter_node.bandwidth) as cluster:
        result = launch(scenario, JobOptions(warmup_steps=1, steps=2), cluster, tmp_path / "run", timeout_s=120,
                        extra_meta=cluster.info)  # fmt: skip
    assert _mine() == []
    assert result.world_size == 4 and result.algorithm == "hierarchical"
    assert sum(result.extra["bucket_bytes"]) == 4 * scenario.model.num_parameters
    assert result.extra["testbed"] == "emulated"
    # the shaped link caps what the all-reduce can move: each node sends at least 2(M−1)/M · S/G per
    # all-reduce over its link (hierarchical: S/G per local rank, G = 2 sharing one link); the token
    # bucket lets its first `burst_bytes` through at line rate (it refills between steps)
    per_link_bytes = 2 * (2 - 1) / 2 * 4 * scenario.model.num_parameters
    shaped_bytes = per_link_bytes - cluster.burst_bytes
    assert shaped_bytes > 0
    assert result.comm_s >= 0.9 * shaped_bytes / scenario.cluster.inter_node.bandwidth


def test_killed_rank_on_the_emulated_cluster_leaves_no_namespace(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    proc = subprocess.run(
        [sys.executable, "-m", "runtime", str(path), "--testbed", "emulated", "--steps", "4",
         "--fail-rank", "3", "--fail-step", "1", "--timeout", "120", "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "error: rank 3 was killed by SIGKILL" in proc.stderr
    assert _orphaned_namespaces() == []  # the launcher (now exited) removed its namespaces


def test_sigterm_tears_the_cluster_down(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime", str(path), "--testbed", "emulated", "--steps", "1000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not [n for n in dpsim_namespaces() if n.startswith(f"{netns_prefix()}{proc.pid}-")]:
        assert time.monotonic() < deadline, "the emulated cluster did not come up"
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    time.sleep(3)  # ranks running
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert [n for n in dpsim_namespaces() if n.startswith(f"{netns_prefix()}{proc.pid}-")] == []


def _orphaned_namespaces() -> list[str]:
    """dpsim namespaces whose owning process is gone (what a run without teardown would leave)."""
    out = []
    for name in dpsim_namespaces():
        pid = int(name[len(netns_prefix()) :].split("-")[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            out.append(name)
    return out


def test_sigkill_of_the_launcher_leaves_no_process_namespace_veth_or_qdisc(tmp_path: Path) -> None:
    """SIGKILL runs no handler: the ranks die by their parent-death signal, the reaper removes the rest."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime", str(path), "--testbed", "emulated", "--steps", "1000",
         "--run-dir", str(tmp_path / "run")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    tag = f"{netns_prefix()}{proc.pid}-"
    deadline = time.monotonic() + 120
    while not (tmp_path / "run" / "rank3.jsonl").exists():  # every rank is training
        assert time.monotonic() < deadline, "the run did not start"
        assert proc.poll() is None
        time.sleep(0.2)
    names = [n for n in dpsim_namespaces() if n.startswith(tag)]
    ranks = {int(p) for n in names for p in subprocess.run(["ip", "netns", "pids", n], capture_output=True,
                                                           text=True).stdout.split()}  # fmt: skip
    assert len(names) == 3 and len(ranks) >= 4
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while [n for n in dpsim_namespaces() if n.startswith(tag)] or any(_running(p) for p in ranks):
        assert time.monotonic() < deadline, "namespaces or ranks outlived the launcher"
        time.sleep(0.2)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    qdiscs = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
    assert tag not in links and "tbf" not in qdiscs  # the veths and their qdiscs lived in the namespaces


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state not in ("Z", "X")


_TREE_GAP = pytest.mark.xfail(
    reason="measured 1.25-1.44x of 2·S/B at 5-8 ranks: the busiest links carry their 2·S (2.13·S of frames "
    "and ACKs a call, a 1.065x floor) but are busy only 83-89 % of it: the chunk pipeline's fill and drain "
    "(32 KiB chunks instead of 128 KiB: 1.32 -> 1.20-1.23x at 8 ranks) and uneven sharing of each link among "
    "its four TCP flows (a tail of 0.45-0.55 s on the edge both trees use); not the host (20/50/100 Mbit/s: "
    "1.38/1.32/1.31x at 8 ranks with the cores 33/64/84 % busy). 4 ranks, now NCCL's trees (its busiest "
    "ranks carry 2·S, as from 5 on): 1.40x (2026-12-05, with 5-8 ranks at 1.29-1.41x). 3 ranks pass on slack: "
    "their busiest link carries 1.5·S (1.07x of 2·S/B, 1.43x of 1.5·S/B). The nodes' TCP congestion control is the "
    "host's (bbr on the project's VM): with reno in the nodes the tree ran 1.16x (4 ranks) / 1.27x (8) and the "
    "balanced ring 1.07x its busiest link's bytes, against 1.31/1.36x and 1.23x with bbr; no tbf drops "
    "(benchmarks/results/validation-2026-12-05-h/tree_drops.txt)",
    strict=False,
)


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [3, *(pytest.param(n, marks=_TREE_GAP) for n in (4, 5, 6, 7, 8))])
def test_p2p_tree_all_reduce_runs_within_15_percent_of_two_s_over_b(tmp_path: Path, ranks: int) -> None:
    """The double binary tree (NCCL's, ``ncclGetDtree``) moves at most 2·S each way over a node link (S/2 per
    tree edge; from 4 ranks on, the busiest links carry exactly that, at 3 ranks 1.5·S): its all-reduce
    takes 2·S/B on links of bandwidth B, up to the chunk pipeline's fill. The
    event-driven tree (both trees progressing, receives posted up front, broadcast streaming per chunk)
    stays within 1.15× of that once the message is large enough to amortise the pipeline's fill (8 MiB:
    32 chunks of 128 KiB per tree; the fill takes about one chunk per tree level up and down). 50 Mbit/s
    keeps the wire, not the shared host's cores, the bottleneck at 8 ranks (the ratio measured the same at
    20 and 100 Mbit/s)."""
    from runtime.calibrate import CalibrationPlan, run_bench
    from runtime.testbed.emulated import EmulatedCluster

    rate, size = 50e6 / 8, 8 * 2**20
    plan = CalibrationPlan(sizes=(size,), algorithms=("tree",), collectives=("all_reduce",), reps=2, warmup=1,
                           timeout_s=300)  # fmt: skip
    with EmulatedCluster(nodes=ranks, per_node=1, rate=rate) as cluster:
        (record,) = run_bench(ranks, 1, cluster, plan, tmp_path / "bench")
    bound = 2 * record["size_bytes"] / rate
    assert record["time_s"] <= 1.15 * bound, f"{ranks} ranks: {record['time_s']:.3f} s vs 2·S/B = {bound:.3f} s"
    assert _mine() == []


def test_tbf_passes_tcp_skbs_whole() -> None:
    # the burst is above TCP's largest GSO skb, so tbf never segments (tbf_segment): veth counts one packet per skb,
    # so the sending eth0's bytes per packet stay far above one 1,514 B frame (stop 41: 1,403-1,465 B with the old
    # 16-31 KiB burst, 16-30 KB with 72 KiB)
    from runtime.testbed.emulated import EmulatedCluster

    sender = (
        "import socket;s=socket.create_connection(('198.18.0.2',29399));s.sendall(bytes(8<<20));"
        "s.shutdown(socket.SHUT_WR);s.recv(1)"
    )
    receiver = (
        "import socket;l=socket.socket();l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
        "l.bind(('198.18.0.2',29399));l.listen(1);print('up',flush=True);c,_=l.accept()\n"
        "while c.recv(1<<20):\n pass\n"
        "c.close()"
    )

    def tx(cluster: EmulatedCluster) -> tuple[int, int]:
        out = subprocess.run(["ip", "-n", cluster.node_namespace(0), "-s", "-j", "link", "show", "eth0"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        import json

        s = json.loads(out)[0]["stats64"]["tx"]
        return s["bytes"], s["packets"]

    with EmulatedCluster(nodes=2, per_node=1, rate=125e6) as cluster:
        srv = subprocess.Popen([*cluster.prefix(1), sys.executable, "-c", receiver], stdout=subprocess.PIPE, text=True)
        try:
            assert srv.stdout is not None and srv.stdout.readline().strip() == "up"
            b0, p0 = tx(cluster)
            subprocess.run([*cluster.prefix(0), sys.executable, "-c", sender], check=True, timeout=60)
            b1, p1 = tx(cluster)
        finally:
            srv.kill()
            srv.wait()
    assert b1 - b0 >= 8 << 20
    assert (b1 - b0) / (p1 - p0) > 4 * 1514
    assert _mine() == []
