"""Run by tests/test_distill_train.py under `torchrun --nproc-per-node 2`: one distillation on CPU (gloo),
then each rank writes a digest of its student's weights, so the test can check they are identical."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path


def main(config_path: str, out_dir: str) -> None:
    import torch

    from edgedistill.distill import DistillConfig
    from edgedistill.distill.run import distill

    outcome = distill(DistillConfig.load(config_path), progress=False)
    digest = hashlib.sha256()
    for name, tensor in sorted(outcome.student.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    rank = int(os.environ.get("RANK", "0"))
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    record = {"rank": rank, "world_size": world, "digest": digest.hexdigest(),
              "wrote_output": bool(outcome.results)}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
