"""Torch-free runtime, installed as ``edgedistill.runtime``: runs an exported bundle with
onnxruntime, tokenizers and numpy only, so it fits a Raspberry Pi or a phone.

It imports nothing of the rest of the project and nothing heavy; a test enforces both.

    from edgedistill.runtime import Predictor
    predictor = Predictor("bundle/", threads=1)
    predictor.classify(["Ina son wannan waka sosai"])
"""

from edgedistill.runtime.bundle import FORMAT_VERSION, BundleError, Manifest, load_manifest

__all__ = ["FORMAT_VERSION", "BundleError", "Manifest", "Predictor", "load_manifest"]


def __getattr__(name: str):
    # Loading onnxruntime takes ~0.2 s; only pay for it when a Predictor is wanted.
    if name == "Predictor":
        from edgedistill.runtime.predictor import Predictor

        return Predictor
    raise AttributeError(name)
