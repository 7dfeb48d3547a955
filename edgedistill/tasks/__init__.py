"""Tasks on real data: readers, one ``Task`` notion, metrics, fine-tuning and evaluation.

Importing this package is light (standard library and numpy): readers, configs and metrics work
without torch. Fine-tuning and evaluation live in ``edgedistill.tasks.finetune`` and
``edgedistill.tasks.evaluate``, which need the [distill] extra.

    from edgedistill.tasks import DataSpec, FinetuneConfig, load_task
    task = load_task(DataSpec("afrisenti", language="hau"))
    from edgedistill.tasks.finetune import finetune
    results = finetune(FinetuneConfig(DataSpec("sib200", language="yor"), output_dir="runs/sib-yor"))
"""

from edgedistill.tasks.config import DataSpec, FinetuneConfig
from edgedistill.tasks.metrics import (
    classification_metrics,
    entity_metrics,
    majority_baseline,
    spearman,
    tagging_metrics,
)
from edgedistill.tasks.readers import (
    DataFormatError,
    PairExample,
    TextExample,
    TokenExample,
    read_afrisenti,
    read_conll,
    read_conllu,
    read_csv_rows,
    read_hf_rows,
    read_jsonl_rows,
    read_labels_file,
    read_raw_text,
    read_sib200,
    read_tsv_rows,
)
from edgedistill.tasks.task import (
    BUILTINS,
    KINDS,
    SEQUENCE,
    SIMILARITY,
    TOKEN,
    Split,
    Task,
    TaskError,
    UnknownLabelError,
    builtin_languages,
    load_task,
    subsample,
)

__all__ = [
    "BUILTINS", "KINDS", "SEQUENCE", "SIMILARITY", "TOKEN", "DataFormatError", "DataSpec",
    "FinetuneConfig", "PairExample", "Split", "Task", "TaskError", "TextExample", "TokenExample",
    "UnknownLabelError", "builtin_languages", "classification_metrics", "entity_metrics", "load_task",
    "majority_baseline", "read_afrisenti", "read_conll", "read_conllu", "read_csv_rows", "read_hf_rows",
    "read_jsonl_rows", "read_labels_file", "read_raw_text", "read_sib200", "read_tsv_rows", "spearman",
    "subsample", "tagging_metrics",
]
