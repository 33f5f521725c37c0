"""Where the runtime GPT's peak memory comes from, per sample (12 x 2048, s 2048, v 50304, bf16 autocast, no DDP):
bytes autograd saves (saved_tensors_hooks, unique storages) per block and outside, memory_allocated after the
forward, the forward's and the backward's peak, at micro-batch 1 and 2. Usage: mem_probe.py OUT.json"""

import json
import sys

import torch

from runtime.model import GPT

out = {}
torch.manual_seed(0)
DRY = not torch.cuda.is_available()  # a CPU dry run of the script at toy sizes
L, H, A, S, V, dev = (2, 64, 4, 32, 500, "cpu") if DRY else (12, 2048, 16, 2048, 50304, "cuda")
if DRY:
    for f in ("synchronize", "reset_peak_memory_stats"):
        setattr(torch.cuda, f, lambda: None)
    for f in ("memory_allocated", "max_memory_allocated"):
        setattr(torch.cuda, f, lambda: 0)
model = GPT(L, H, A, S, V).to(dev)
for p in model.parameters():
    p.grad = torch.zeros_like(p)  # zero_grad(set_to_none=False), as the runtime
seen = {}
where = ["outside"]


def pack(t):
    s = t.untyped_storage()
    key = (s.data_ptr(), s.nbytes())
    if key not in seen:
        seen[key] = (where[0], s.nbytes(), str(t.dtype), tuple(t.shape))
    return t


hooks = []
for i, b in enumerate(model.blocks):
    hooks.append(b.register_forward_pre_hook(lambda m, a, i=i: where.__setitem__(0, f"block{i}")))
    hooks.append(b.register_forward_hook(lambda m, a, o: where.__setitem__(0, "outside")))
for mb in (1, 2, 1, 2):
    g = torch.Generator().manual_seed(mb)
    tok = torch.randint(V, (mb, S + 1), generator=g).to(dev)
    batch = (tok[:, :-1], tok[:, 1:])
    torch.cuda.synchronize()
    seen.clear()
    where[0] = "outside"
    m0 = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast(dev, torch.bfloat16):
        loss = model.loss(batch)
    torch.cuda.synchronize()
    m1 = torch.cuda.memory_allocated()
    p1 = torch.cuda.max_memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    loss.backward()
    torch.cuda.synchronize()
    p2 = torch.cuda.max_memory_allocated()
    m2 = torch.cuda.memory_allocated()
    block0 = [v for v in seen.values() if v[0] == "block0"]
    rec = {
        "mb": mb,
        "before": m0,
        "after_forward": m1 - m0,
        "forward_peak": p1 - m0,
        "backward_peak": p2 - m0,
        "after_backward": m2 - m0,
        "saved_block0": sum(v[1] for v in block0),
        "saved_all_blocks": sum(v[1] for v in seen.values() if v[0] != "outside"),
        "saved_outside": sum(v[1] for v in seen.values() if v[0] == "outside"),
        "block0_tensors": [list(v[1:]) for v in block0],
        "outside_tensors": [list(v[1:]) for v in seen.values() if v[0] == "outside" and v[1] > 1e6],
    }
    print({k: v for k, v in rec.items() if not k.endswith("tensors")}, flush=True)
    out[f"{mb}-{len(out)}"] = rec
    del loss
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
