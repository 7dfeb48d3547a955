"""Export stage, installed as ``edgedistill.export``: ONNX / TorchScript / ORT-format conversion,
INT8 quantization behind an accuracy gate, and the bundle writer.

It may import the core (``edgedistill``) and ``edgedistill.runtime`` (to validate what it wrote with
the code that will run it); the core never imports it.
"""
