"""Export stage, installed as ``edgedistill.export``: ONNX / TorchScript / ORT-format conversion,
INT8 quantization behind an accuracy gate, and the bundle writer.

It may import the core (``edgedistill``) and ``edgedistill.runtime`` (to validate what it wrote with
the code that will run it); the core never imports it. Importing this package is light; each module
imports torch, onnx or onnxruntime only when used.

    from edgedistill.export.pipeline import ExportOptions, export_bundle, quantize_bundle, dev_data
    export_bundle("runs/teachers/afrisenti-hau", "bundles/hau-fp32", ExportOptions(target="android"))

    from edgedistill.export.onnx_export import export_onnx          # model -> validated ONNX file
    from edgedistill.export.quantize import DynamicScheme, StaticScheme, quantize_onnx
    from edgedistill.export.gate import escalation_ladder, run_accuracy_gate
    from edgedistill.export.quantize import NeuralCompressorScheme
    from edgedistill.export.neural_compressor import quantize_with_neural_compressor
    from edgedistill.export.torchscript import export_torchscript
    from edgedistill.export.ort_format import convert_to_ort
    from edgedistill.export.tokenizer_graph import string_input_model, check_tokenizer_graph
"""
