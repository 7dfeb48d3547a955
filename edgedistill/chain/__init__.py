"""The whole chain in one command (`edgedistill run`): teacher, distillation, compression, export,
INT8, benchmark and report, each stage cached in its own folder and resumed after an interruption.

This is the one place in the core that composes the stages built on top of it (export, runtime,
benchmarks); the rest of the core never imports them.
"""
