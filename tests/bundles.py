"""Manifest surgery for tests of what the runtime refuses (tiny bundles: edgedistill.export.tiny_bundles)."""

from __future__ import annotations

import json
from pathlib import Path

from edgedistill.runtime.bundle import MANIFEST_NAME


def rewrite_manifest(bundle: Path, **changes) -> None:
    """Change manifest keys in place, with no check and no new hashes (seal_bundle would refuse)."""
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data.update(changes)
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
