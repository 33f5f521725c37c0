"""Measurements users already have, turned into calibration data (torch-free).

- :mod:`dpsim.ingest.nccl_tests`: ``all_reduce_perf`` / ``all_gather_perf`` /
  ``reduce_scatter_perf`` output → fitted links per link class and algorithm;
- :mod:`dpsim.ingest.kineto`: a PyTorch profiler (Kineto) Chrome trace of one training step →
  per-layer forward/backward compute, gradient-ready times per bucket, achieved overlap.

Both feed ``dpsim calibrate --from-nccl-tests FILE…`` / ``--from-trace TRACE.json``.
"""
