"""A GB200 NVL72 rack (or an NVL4 / NVL8 part of one) as NCCL's topology file, for ``harness`` (``build.sh``).

Under MNNVL NCCL fuses the trays' topologies into one node (``src/graph/topo.cc`` ``ncclTopoGetSystem``): per tray
(host) two Grace CPUs, each with two B200 GPUs joined by NVLink-C2C and two ConnectX-7 400G ports on PCIe Gen5 x16
(NVIDIA's GB200 compute tray: four ConnectX-7 a tray), every GPU's 18 NVLinks into the one NVSwitch node.
``python benchmarks/nccl_search/topology.py 18 > nvl72.xml`` (trays; ``--gbps 200`` for 200G ports). ``--hgx``: an
HGX H100 node instead (two Intel sockets, four PCIe Gen5 switches each with one H100 and one NIC, 18 NVLinks a GPU).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.script_cli import Parser, whole


def topology(trays: int, gbps: int = 400) -> str:
    """The XML of ``trays`` GB200 trays, ranks in tray order, NIC ``dev`` 0-3 and GPU ``dev`` 0-3 per tray."""
    lines = ['<system version="1">']
    rank = 0
    for tray in range(trays):
        for numa in range(2):
            lines.append(f'  <cpu numaid="{numa}" host_hash="{0x1000 + tray:#x}" arch="arm64" affinity="ff">')
            for k in range(2):
                dev = 2 * numa + k
                lines += [
                    f'    <pci busid="{8 * numa + k + 1:04x}:01:00.0" class="0x020700" link_speed="32.0 GT/s PCIe" '
                    'link_width="16">',
                    f'      <nic><net name="mlx5_{dev}" dev="{dev}" speed="{gbps * 1000}" port="1" latency="0" '
                    f'guid="{(tray << 8) + dev + 1:#x}" maxconn="131072" gdr="1"/></nic>',
                    "    </pci>",
                ]
            for k in range(2):
                lines += [
                    f'    <pci busid="{8 * numa + k + 4:04x}:01:00.0" class="0x030200" link_speed="32.0 GT/s PCIe" '
                    'link_width="16">',
                    f'      <gpu dev="{2 * numa + k}" sm="100" rank="{rank}" gdr="1"><nvlink target="ffff:ff:ff.0" '
                    'count="18" tclass="0x068000"/><c2c bw="45000" count="10"/></gpu>',
                    "    </pci>",
                ]
                rank += 1
            lines.append("  </cpu>")
    lines.append("</system>")
    return "\n".join(lines)


def hgx(gbps: int = 400, sm: int = 90) -> str:
    """The XML of one HGX node of 8 GPUs (compute capability ``sm``), each alone with a NIC on a PCIe Gen5 switch."""
    lines = ['<system version="1">']
    for numa in range(2):
        lines.append(
            f'  <cpu numaid="{numa}" host_hash="0x1000" arch="x86_64" vendor="GenuineIntel" familyid="6" '
            'modelid="143" affinity="ff">'
        )
        for k in range(4):
            gpu = 4 * numa + k
            bus = 64 * numa + 16 * k + 1
            gen5 = 'link_speed="32.0 GT/s PCIe" link_width="16"'
            lines += [
                f'    <pci busid="0000:{bus:02x}:00.0" class="0x060400" vendor="0x1000" device="0xc030" '
                f'subsystem_vendor="0x1000" subsystem_device="0xa064" {gen5}>',
                f'      <pci busid="0000:{bus + 1:02x}:00.0" class="0x030200" {gen5}><gpu dev="{gpu}" sm="{sm}" '
                f'rank="{gpu}" gdr="1"><nvlink target="ffff:ff:ff.0" count="18" tclass="0x068000"/></gpu></pci>',
                f'      <pci busid="0000:{bus + 2:02x}:00.0" class="0x020700" {gen5}><nic><net name="mlx5_{gpu}" '
                f'dev="{gpu}" speed="{gbps * 1000}" port="1" latency="0" guid="{gpu + 1:#x}" maxconn="131072" '
                'gdr="1"/></nic></pci>',
                "    </pci>",
            ]
        lines.append("  </cpu>")
    lines.append("</system>")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    # round 27: int() took 0 and -1 (a system of no GPU) and --gbps 0 (NICs of speed 0), silently
    parser.add_argument("trays", type=whole(1, 18), nargs="?", default=None, help="GB200 trays, 1-18 (default 18)")
    parser.add_argument("--gbps", type=whole(1, 3200), default=400, help="each NIC's port speed, Gbit/s")
    parser.add_argument("--hgx", action="store_true", help="one HGX H100 node (8 GPUs, a NIC each) instead")
    args = parser.parse_args(argv)
    if args.hgx and args.trays is not None:  # round 27: the trays were dropped without a word
        parser.error("argument trays: --hgx writes one HGX H100 node: it takes no trays")
    print(hgx(args.gbps) if args.hgx else topology(args.trays or 18, args.gbps))


if __name__ == "__main__":
    main()
