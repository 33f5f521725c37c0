"""PyTorch's CUDA caching allocator, replayed: what a sequence of allocations and frees reserves.

torch reports two peaks: ``allocated_bytes.all.peak`` (the live blocks, each request rounded up to 512 bytes) and
``reserved_bytes.all.peak`` (the segments the allocator took from the driver and keeps cached). torchtitan logs the
second (``max_reserved``). This module applies the allocator's own rules to a list of :class:`Alloc` / :class:`Free`
events and returns both peaks, so that the gap between them comes from the rules, not from a percentage.

The rules, from ``c10/cuda/CUDACachingAllocator.cpp`` (pytorch/pytorch at 001074d25084, the same constants since
torch 1.x): requests are rounded up to 512 bytes (``kMinBlockSize``; ``roundup_power2_divisions`` unset); requests up
to 1 MiB (``kSmallSize``) come from the small pool, packed into 2 MiB segments (``kSmallBuffer``); larger requests
from the large pool, where a new segment is 20 MiB (``kLargeBuffer``) below 10 MiB (``kMinLargeAlloc``) and otherwise
the request rounded up to 2 MiB (``kRoundLarge``). A request takes the smallest cached free block of its pool *and
stream* that holds it (``get_free_block``: blocks are ordered by stream, size, address), split when the remainder
exceeds 1 MiB in the large pool or is at least 512 bytes in the small pool (``should_split``); otherwise the allocator
takes a new segment (``alloc_block``). A freed block merges with free neighbours of its own segment only
(``free_block``, ``try_merge_blocks``): segments are never merged, and nothing is returned to the driver unless
``empty_cache`` is called or a ``cudaMalloc`` fails (not modelled: the replay is for runs that fit).

With ``expandable_segments:True`` (``Note [Expandable Segments]``) each stream's pool is one segment of virtual
address space whose physical pages are mapped as needed, 20 MiB pages in the large pool and 2 MiB in the small one:
a request no free block holds maps pages at the lowest address where free and unmapped space together fit it
(``find_expandable_block``, ``map_block``), merging with the free block before it, and any remainder of at least 512
bytes splits off. Freed pages stay mapped (reserved) as above.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "K_LARGE_BUFFER",
    "K_MIN_BLOCK_SIZE",
    "K_MIN_LARGE_ALLOC",
    "K_ROUND_LARGE",
    "K_SMALL_BUFFER",
    "K_SMALL_SIZE",
    "Alloc",
    "AllocatorPeaks",
    "Free",
    "allocation_size",
    "replay",
    "round_size",
]

K_MIN_BLOCK_SIZE = 512
"""Every request is rounded up to a multiple of this (``kMinBlockSize``)."""
K_SMALL_SIZE = 1 << 20
"""The largest request served from the small pool (``kSmallSize``, 1 MiB)."""
K_SMALL_BUFFER = 2 << 20
"""A small-pool segment, and an expandable small pool's page (``kSmallBuffer``, 2 MiB)."""
K_LARGE_BUFFER = 20 << 20
"""The segment for a 1-10 MiB request, and an expandable large pool's page (``kLargeBuffer``, 20 MiB)."""
K_MIN_LARGE_ALLOC = 10 << 20
"""From this request size a segment is the request rounded up to ``K_ROUND_LARGE`` (``kMinLargeAlloc``, 10 MiB)."""
K_ROUND_LARGE = 2 << 20
"""Large segments are rounded up to this (``kRoundLarge``, 2 MiB)."""

_ADDRESS_SPACE = 1 << 50
"""An expandable segment's virtual address space: far more than any replay maps (torch reserves 9/8 of the device)."""


@dataclass(frozen=True)
class Alloc:
    """Allocate ``size`` bytes on ``stream`` as tensor ``key`` (a name the matching :class:`Free` repeats)."""

    key: object
    size: float
    stream: str = "compute"


@dataclass(frozen=True)
class Free:
    """Free the tensor ``key``."""

    key: object


@dataclass(frozen=True)
class AllocatorPeaks:
    """What the allocator's statistics would show after the events: the peaks of ``allocated_bytes.all`` (live
    blocks) and ``reserved_bytes.all`` (segments, or mapped pages), and the reserved bytes at the end."""

    allocated_peak: int
    reserved_peak: int
    reserved_end: int


def round_size(size: int) -> int:
    """The block size a request of ``size`` bytes gets (``round_size``: at least 512 bytes, a multiple of 512)."""
    if size < K_MIN_BLOCK_SIZE:
        return K_MIN_BLOCK_SIZE
    return K_MIN_BLOCK_SIZE * -(-size // K_MIN_BLOCK_SIZE)


def allocation_size(size: int) -> int:
    """The segment a new ``cudaMalloc`` takes for a rounded request of ``size`` bytes (``get_allocation_size``)."""
    if size <= K_SMALL_SIZE:
        return K_SMALL_BUFFER
    if size < K_MIN_LARGE_ALLOC:
        return K_LARGE_BUFFER
    return K_ROUND_LARGE * -(-size // K_ROUND_LARGE)


class _Block:
    __slots__ = ("address", "allocated", "mapped", "next", "prev", "size", "small", "stream")

    def __init__(self, stream: str, small: bool, address: int, size: int, mapped: bool = True) -> None:
        self.stream, self.small, self.address, self.size, self.mapped = stream, small, address, size, mapped
        self.allocated = False
        self.prev: _Block | None = None
        self.next: _Block | None = None

    def sort_key(self) -> tuple[str, bool, int, int]:
        return (self.stream, self.small, self.size, self.address)


def _order(item: tuple[tuple[str, bool, int, int], _Block]) -> tuple[str, bool, int, int]:
    return item[0]


class _Allocator:
    """One device's caching allocator (the default pools; no CUDA graphs, no ``max_split_size``)."""

    def __init__(self, expandable: bool) -> None:
        self.expandable = expandable
        self.free: list[tuple[tuple[str, bool, int, int], _Block]] = []  # cached free blocks, best-fit order
        self.unmapped: dict[tuple[str, bool], _Block] = {}  # an expandable segment's unmapped tail, per pool
        self.next_address = 0
        self.allocated = self.reserved = self.allocated_peak = self.reserved_peak = 0

    def _insert(self, block: _Block) -> None:
        bisect.insort(self.free, (block.sort_key(), block), key=_order)

    def _remove(self, block: _Block) -> None:
        i = bisect.bisect_left(self.free, block.sort_key(), key=_order)
        assert self.free[i][1] is block
        del self.free[i]

    def _best_fit(self, stream: str, small: bool, size: int) -> _Block | None:
        i = bisect.bisect_left(self.free, (stream, small, size, -1), key=_order)
        if i == len(self.free) or self.free[i][0][:2] != (stream, small):
            return None
        if self.expandable:  # best fit by the size a block can grow to: its size plus the unmapped space after it
            while (
                i + 1 < len(self.free)
                and self.free[i + 1][0][:2] == (stream, small)
                and self._expandable_size(self.free[i + 1][1]) < self._expandable_size(self.free[i][1])
            ):
                i += 1
        block = self.free[i][1]
        del self.free[i]
        return block

    @staticmethod
    def _expandable_size(block: _Block) -> int:
        after = block.next
        return block.size + (after.size if after is not None and not after.mapped else 0)

    def _new_segment(self, stream: str, small: bool, size: int) -> _Block:
        """A fresh ``cudaMalloc`` of :func:`allocation_size`."""
        segment = allocation_size(size)
        block = _Block(stream, small, self.next_address, segment)
        self.next_address += segment
        self._grow(segment)
        return block

    def _grow(self, size: int) -> None:
        self.reserved += size
        self.reserved_peak = max(self.reserved_peak, self.reserved)

    def _map(self, stream: str, small: bool, size: int) -> _Block:
        """``try_allocate_expandable_block``: map pages at the end of the pool's segment, joined to a free block
        that ends where the unmapped space begins."""
        tail = self.unmapped.get((stream, small))
        if tail is None:
            tail = _Block(stream, small, self.next_address, _ADDRESS_SPACE, mapped=False)
            self.next_address += _ADDRESS_SPACE
            self.unmapped[(stream, small)] = tail
        start = tail.prev if tail.prev is not None and not tail.prev.allocated else None
        have = start.size if start is not None else 0
        page = K_SMALL_BUFFER if small else K_LARGE_BUFFER
        mapped = page * -(-(size - have) // page)
        self._grow(mapped)
        block = _Block(stream, small, tail.address, mapped)
        block.prev, block.next = tail.prev, tail
        if tail.prev is not None:
            tail.prev.next = block
        tail.prev = block
        tail.address += mapped
        tail.size -= mapped
        if start is not None:  # merge the free block before the new pages into them
            self._remove(start)
            block.address, block.size, block.prev = start.address, start.size + block.size, start.prev
            if start.prev is not None:
                start.prev.next = block
        return block

    def malloc(self, nbytes: int, stream: str) -> _Block:
        size = round_size(nbytes)
        small = size <= K_SMALL_SIZE
        block = self._best_fit(stream, small, size)
        if block is None:
            block = self._map(stream, small, size) if self.expandable else self._new_segment(stream, small, size)
        remaining = block.size - size
        split = remaining >= K_MIN_BLOCK_SIZE if (small or self.expandable) else remaining > K_SMALL_SIZE
        if split:
            rest = _Block(stream, small, block.address + size, remaining)
            rest.prev, rest.next = block, block.next
            if block.next is not None:
                block.next.prev = rest
            block.next, block.size = rest, size
            self._insert(rest)
        block.allocated = True
        self.allocated += block.size
        self.allocated_peak = max(self.allocated_peak, self.allocated)
        return block

    def release(self, block: _Block) -> None:
        block.allocated = False
        self.allocated -= block.size
        for neighbour in (block.prev, block.next):
            if neighbour is None or neighbour.allocated or not neighbour.mapped:
                continue
            self._remove(neighbour)
            if neighbour is block.prev:
                block.address, block.prev = neighbour.address, neighbour.prev
                if neighbour.prev is not None:
                    neighbour.prev.next = block
            else:
                block.next = neighbour.next
                if neighbour.next is not None:
                    neighbour.next.prev = block
            block.size += neighbour.size
        self._insert(block)


def replay(events: Iterable[Alloc | Free], *, expandable_segments: bool = False) -> AllocatorPeaks:
    """Run ``events`` through the caching allocator's rules (module docstring) on an empty device.

    Raises ``ValueError`` for a :class:`Free` of a key not live, or an :class:`Alloc` of a live key.
    """
    allocator = _Allocator(expandable_segments)
    live: dict[object, _Block | None] = {}  # None: a zero-byte tensor, which takes no block
    for event in events:
        if isinstance(event, Alloc):
            if event.key in live:
                raise ValueError(f"allocation {event.key!r} is already live")
            live[event.key] = allocator.malloc(math.ceil(event.size), event.stream) if event.size > 0 else None
        else:
            if event.key not in live:
                raise ValueError(f"free of {event.key!r}, which is not live")
            block = live.pop(event.key)
            if block is not None:
                allocator.release(block)
    return AllocatorPeaks(allocator.allocated_peak, allocator.reserved_peak, allocator.reserved)
