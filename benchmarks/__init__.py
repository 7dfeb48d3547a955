"""Benchmark harness, installed as ``edgedistill.benchmarks``: latency percentiles after warm-up,
throughput, cold start, peak RSS (each variant in its own process), file size, parameters and
FLOPs, with variants interleaved round by round so that ratios hold on a noisy machine.

Needs only the base install for ONNX bundles (``--runtime-only``, e.g. on a Raspberry Pi);
PyTorch and TorchScript variants need the [distill] extra. The harness never imports the chain; the
studies that do (benchmarks/studies/, the scripts behind benchmarks/results/) are not installed.
"""
