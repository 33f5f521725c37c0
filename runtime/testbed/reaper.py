"""``python -m runtime.testbed.reaper FD TAG``: tear an emulated cluster down when its launcher dies.

Started by :class:`runtime.testbed.emulated.EmulatedCluster` in its own session, holding
the read end ``FD`` of a pipe whose write end only the launcher has. A read returns EOF
once the launcher has closed it (a normal close, after its own teardown) or died (also by
SIGKILL, which runs no handler): then every process inside a ``TAG-*`` namespace is killed
and the namespaces are deleted. Idempotent with the launcher's own teardown.
"""

from __future__ import annotations

import os
import signal
import sys

from runtime.testbed.emulated import dpsim_namespaces, remove_namespaces


def main(argv: list[str]) -> int:
    fd, tag = int(argv[0]), argv[1]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # the launcher's terminal going away is not ours
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            if not os.read(fd, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    prefix = tag.rstrip("0123456789")
    remove_namespaces([n for n in dpsim_namespaces(prefix) if n.startswith(f"{tag}-")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
