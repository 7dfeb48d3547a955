"""edgedistill: distil, compress, quantize and ship multilingual encoders to small devices.

The core (this package) holds teachers, students, losses, the trainer, compression operations,
tasks and evaluation. ``edgedistill.export`` and ``edgedistill.runtime`` are built on top of it.
"""

__version__ = "0.1.0"
