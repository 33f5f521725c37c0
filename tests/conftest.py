"""Every test leaves the process as it found it: no torch.distributed group, no rendezvous variables.

The whole suite runs in one process, so a group a test left initialised, or a ``MASTER_PORT`` it
left in the environment, reaches every later test and every process they start. A test that
leaks either fails at teardown (naming what it left), and the leak is undone for the tests after it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

RENDEZVOUS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


def _group_initialised() -> bool:
    dist = sys.modules.get("torch.distributed")  # never imports torch for tests that do not use it
    return bool(dist is not None and dist.is_available() and dist.is_initialized())


@pytest.fixture(autouse=True)
def _no_distributed_state_leaks() -> Iterator[None]:
    before = {name: os.environ.get(name) for name in RENDEZVOUS}
    yield
    leaked = [name for name in RENDEZVOUS if os.environ.get(name) != before[name]]
    for name in leaked:
        value = before[name]
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value
    group = _group_initialised()
    if group:  # the runtime's teardown: a plain destroy_process_group() can deadlock (runtime.torchrun.destroy_group)
        from runtime.torchrun import destroy_group

        destroy_group()
    if leaked or group:
        what = [f"environment variable {', '.join(leaked)}"] if leaked else []
        what += ["an initialised torch.distributed process group"] if group else []
        pytest.fail(f"the test left {' and '.join(what)} behind (undone now)", pytrace=False)
