"""The simple baselines every model is reported beside (docs/tasks.md, "Baselines and teachers").

TF-IDF (word 1-2 grams + char_wb 2-5 grams) with a balanced logistic regression for sentence tasks, a
CRF over word, lowercase, prefix, suffix and shape features of +-2 words for token tasks. Each is fitted
on the whole training split, its hyper-parameters chosen on the dev split only, and scored with the
project's own readers and metrics on the whole test split, as the teachers are.

Importing this package is cheap (no scikit-learn): ``train_baseline`` lives in
``edgedistill.baselines.train``, which needs the [baselines] extra.
"""

from edgedistill.baselines.records import RECORDS_DIR, load_baseline_record, record_path

__all__ = ["RECORDS_DIR", "load_baseline_record", "record_path"]
