"""Torch-free runtime, installed as ``edgedistill.runtime``: runs an exported bundle with
onnxruntime, tokenizers and numpy only, so it fits a Raspberry Pi or a phone.

It imports nothing of the rest of the project and nothing heavy; a test enforces both.
"""
