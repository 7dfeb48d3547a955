"""The two baseline models, and choosing their hyper-parameters on dev.

Each model is a scikit-learn Pipeline that predicts from what the task readers give: raw texts for
sentence tasks, lists of words for token tasks. Needs the [baselines] extra.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn_crfsuite import CRF

SENTENCE_KIND = "tfidf-logreg"
TOKEN_KIND = "crf"
DESCRIPTIONS = {
    SENTENCE_KIND: "TF-IDF (word 1-2 grams + char_wb 2-5 grams) + logistic regression (balanced)",
    TOKEN_KIND: "CRF (word, lowercase, prefix, suffix, shape of +-2 words)",
}
GRIDS = {
    SENTENCE_KIND: {"C": [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]},
    TOKEN_KIND: {"c1": [0.01, 0.1, 0.5], "c2": [0.01, 0.1]},
}
# The settings that are not searched, written into every record.
FIXED_SETTINGS = {
    SENTENCE_KIND: {"word_ngrams": [1, 2], "char_wb_ngrams": [2, 5], "class_weight": "balanced",
                    "solver": "lbfgs", "max_iter": 2000},
    TOKEN_KIND: {"window": 2, "algorithm": "lbfgs", "max_iterations": 100, "all_possible_transitions": True},
}
WINDOW = 2


@dataclass
class Chosen:
    """The pipeline with the best dev score, and the dev score of every candidate."""

    kind: str
    model: Pipeline
    params: dict
    candidates: list[dict]  # {"params": ..., "dev": primary metric, "fit_seconds": ...}, in grid order
    search_seconds: float


def sentence_features() -> FeatureUnion:
    return FeatureUnion([("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2))),
                         ("char_wb", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)))])


def sentence_classifier(C: float) -> LogisticRegression:
    return LogisticRegression(C=C, class_weight="balanced", solver="lbfgs", max_iter=2000)


def token_features() -> FunctionTransformer:
    return FunctionTransformer(sentences_features)


def token_tagger(c1: float, c2: float) -> CRF:
    return CRF(algorithm="lbfgs", c1=c1, c2=c2, max_iterations=100, all_possible_transitions=True)


BUILDERS = {SENTENCE_KIND: (sentence_features, sentence_classifier),
            TOKEN_KIND: (token_features, token_tagger)}


def choose_on_dev(kind: str, train_x: Sequence, train_y: Sequence, dev_x: Sequence,
                  dev_score: Callable[[list], float], grid: dict | None = None) -> Chosen:
    """Fit every candidate of ``grid`` on train and keep the one ``dev_score`` rates highest.

    The features are fitted once on train and shared by the candidates; ties go to the first
    candidate in grid order. ``dev_score`` sees only predictions on ``dev_x``.
    """
    started = time.perf_counter()
    make_features, make_estimator = BUILDERS[kind]
    features = make_features()
    train_features, dev_features = features.fit_transform(train_x), features.transform(dev_x)
    best, candidates = None, []
    for params in ParameterGrid(grid or GRIDS[kind]):
        fit_started = time.perf_counter()
        estimator = make_estimator(**params).fit(train_features, train_y)
        fit_seconds = time.perf_counter() - fit_started
        score = dev_score(as_lists(estimator.predict(dev_features)))
        candidates.append({"params": params, "dev": score, "fit_seconds": round(fit_seconds, 2)})
        if best is None or score > best[0]:
            best = (score, params, estimator)
    pipeline = Pipeline([("features", features), ("model", best[2])])
    return Chosen(kind, pipeline, best[1], candidates, time.perf_counter() - started)


def as_lists(predicted) -> list:
    """Predictions as plain Python: label strings, or one list of tags per sentence."""
    return [list(p) if not isinstance(p, str) else p for p in predicted]


# ---------------------------------------------------------------- CRF features

def sentences_features(sentences: Sequence[Sequence[str]]) -> list[list[dict]]:
    return [sentence_features_of(list(words)) for words in sentences]


def sentence_features_of(words: list[str]) -> list[dict]:
    """One feature dict per word: its own features and its neighbours', keyed by offset."""
    own = [word_features(word) for word in words]
    rows = []
    for i in range(len(words)):
        row = {"bias": 1.0}
        for offset in range(-WINDOW, WINDOW + 1):
            j = i + offset
            if 0 <= j < len(words):
                row.update({f"{offset}:{name}": value for name, value in own[j].items()})
            else:
                row[f"{offset}:outside"] = True  # before the first or after the last word
        rows.append(row)
    return rows


def word_features(word: str) -> dict:
    lower = word.lower()
    return {"word": word, "lower": lower, "prefix3": lower[:3], "suffix2": lower[-2:],
            "suffix3": lower[-3:], "shape": word_shape(word)}


def word_shape(word: str) -> str:
    """Letters as X/x, digits as d, runs collapsed: "Lagos" -> "Xx", "12/05" -> "d/d"."""
    shape = re.sub(r"[^\W\d_]", lambda m: "X" if m.group().isupper() else "x", word)
    shape = re.sub(r"\d", "d", shape)
    return re.sub(r"(.)\1+", r"\1", shape)
