"""Write a comet-shaped student (6 layers, 256 hidden, 8 heads, FFN 1024) of a teacher, untrained.

For speed and memory measurements only: latency, RSS and size depend on the shape, not on the
weights, so the benchmark does not have to wait for a distillation run. Any report built on it says
"untrained, shape only" and gives no accuracy for it.

    python benchmarks/studies/comet_shape.py TEACHER_DIR OUT_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main(teacher_dir: str, out_dir: str) -> None:
    from edgedistill.distill.students import fresh_student
    from edgedistill.teachers import load_teacher

    teacher = load_teacher(teacher_dir, head="sequence-classification")
    student = fresh_student(teacher.model, num_layers=6, hidden_size=256, num_heads=8,
                            intermediate_size=1024, embeddings="project")
    out = Path(out_dir)
    student.save_pretrained(out, safe_serialization=True)
    teacher.tokenizer.save_pretrained(out)
    task_file = Path(teacher_dir) / "edgedistill-task.json"
    if task_file.is_file():  # same task, labels and input prefix as the teacher
        shutil.copy(task_file, out / task_file.name)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    main(sys.argv[1], sys.argv[2])
