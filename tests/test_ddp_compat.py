"""The DDP keyword the runtime uses to skip buffer broadcasts exists in the installed torch.

torch 2.11 (the CUDA build on the GPU machine) has no ``forward_sync_buffers``; passing it crashed every GPU run.
"""

from __future__ import annotations

import inspect

from torch.nn.parallel import DistributedDataParallel

from runtime.aggregation import NO_BUFFER_SYNC


def test_no_buffer_sync_names_a_keyword_this_torch_accepts() -> None:
    accepted = inspect.signature(DistributedDataParallel.__init__).parameters
    assert len(NO_BUFFER_SYNC) == 1
    ((name, value),) = NO_BUFFER_SYNC.items()
    assert name in accepted and name in ("forward_sync_buffers", "broadcast_buffers")
    assert value is False
