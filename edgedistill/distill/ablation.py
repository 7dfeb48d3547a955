"""Loss ablations: one student per subset of a recipe's loss terms, tabulated beside the teacher.

``run_ablation(config, {"kd": ("kl",), "attention": ("attention",), "both": ("kl", "attention")}, ...)``
trains the three Comet variants with the same teacher, data and schedule (the teacher cache makes
the teacher run once), scores the teacher on the same dev/test examples, and writes a markdown table
that starts with the command regenerating it. A variant whose folder holds the results of the same
config is reused rather than retrained.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from edgedistill.atomic import atomic_write_text
from edgedistill.config import ConfigError
from edgedistill.distill.config import LOSS_TERMS, DistillConfig, LossTerm

DEFAULT_VARIANTS = {"kd": ("kl",), "attention": ("attention",), "both": ("kl", "attention")}
TEACHER_SCORES = "teacher-scores.json"


def parse_variants(items: tuple[str, ...] | list[str]) -> dict[str, tuple[str, ...]]:
    """``["kd=kl", "ce=kl,labels:0.5;student.init=pretrained"]`` ->
    ``{"kd": ("kl",), "ce": ("kl", "labels:0.5", "student.init=pretrained")}``.

    After the loss types, ``;KEY=VALUE`` parts change any other key of that variant's config.
    """
    if not items:
        return dict(DEFAULT_VARIANTS)
    variants = {}
    for item in items:
        name, _, spec = item.partition("=")
        types, *overrides = spec.split(";")
        if not name.strip() or not types.strip() or any("=" not in o for o in overrides):
            raise ConfigError(f"variant {item!r} is not NAME=TYPE[:WEIGHT][,TYPE...][;KEY=VALUE...] "
                                     f"(e.g. kd=kl)")
        terms = tuple(t.strip() for t in types.split(",") if t.strip())
        variants[name.strip()] = terms + tuple(o.strip() for o in overrides)
    return variants


def _split_variant(spec: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Loss-term parts and KEY=VALUE override parts of a parsed variant."""
    return tuple(p for p in spec if "=" not in p), tuple(p for p in spec if "=" in p)


def variant_config(config: DistillConfig, name: str, types: tuple[str, ...], runs: Path) -> DistillConfig:
    """The recipe with only the loss terms of ``types``.

    Without weights the kept terms are rescaled to the recipe's total weight. ``TYPE:WEIGHT`` sets a
    term's weight (the other named terms keep the recipe's) and may add a type the recipe lacks, with
    that type's defaults (e.g. ``labels:0.5`` adds cross-entropy on the gold labels). ``KEY=VALUE``
    parts override any other key (``student.init=teacher-layers``).
    """
    from edgedistill.chain.recipe import apply_overrides

    types, overrides = _split_variant(types)
    specs = [_term_spec(item, name) for item in types]
    if all(weight is None for _, weight in specs):
        terms = _rescaled(config, name, {kind for kind, _ in specs})
    else:
        terms = [term for kind, weight in specs for term in _weighted(config, name, kind, weight)]
    changed = config.replace(losses=terms)
    if overrides:
        changed = apply_overrides(changed, list(overrides))
    return changed.replace(name=f"{config.name}-{name}", output_dir=str(runs / name))


def _term_spec(item: str, variant: str) -> tuple[str, float | None]:
    kind, _, weight = item.partition(":")
    if kind not in LOSS_TERMS:
        raise ConfigError(f"variant {variant} names loss type {kind!r}; types: "
                                 f"{', '.join(LOSS_TERMS)}")
    if not weight:
        return kind, None
    try:
        return kind, float(weight)
    except ValueError:
        raise ConfigError(f"variant {variant}: weight {weight!r} of {kind} is not a number") from None


def _rescaled(config: DistillConfig, name: str, kinds: set[str]) -> list[LossTerm]:
    missing = sorted(kinds - {term.type for term in config.losses})
    if missing:
        raise ConfigError(f"variant {name} adds {missing[0]}, which the recipe lacks: give its weight "
                                 f"({missing[0]}:0.5)")
    kept = [term for term in config.losses if term.type in kinds]
    scale = sum(t.weight for t in config.losses) / sum(t.weight for t in kept)
    return [type(term)(**{**_fields(term), "weight": round(term.weight * scale, 6)}) for term in kept]


def _weighted(config: DistillConfig, name: str, kind: str, weight: float | None) -> list[LossTerm]:
    found = [term for term in config.losses if term.type == kind]
    if not found and weight is None:
        raise ConfigError(f"variant {name} adds {kind}, which the recipe lacks: give its weight "
                                 f"({kind}:0.5)")
    found = found or [LOSS_TERMS[kind]()]
    return [type(term)(**{**_fields(term), "weight": term.weight if weight is None else weight})
            for term in found]


def _fields(term) -> dict:
    import dataclasses

    return {f.name: getattr(term, f.name) for f in dataclasses.fields(term)}


def run_ablation(config: DistillConfig, variants: dict[str, tuple[str, ...]], runs: Path, out: Path, *,
                 command: str, progress: bool = True) -> str:
    """Train (or reuse) each variant, score the teacher, write the table to ``out``; return it."""
    if config.data.task is None:
        raise ConfigError("an ablation scores students on a task: the recipe needs [data.task]")
    # The variant with the most terms runs first, so that its teacher pass fills the cache the
    # others read; the table keeps the order given.
    results = {}
    for name in sorted(variants, key=lambda n: -len(_split_variant(variants[n])[0])):
        results[name] = _variant_results(variant_config(config, name, variants[name], runs), progress)
    rows = {name: results[name] for name in variants}
    teacher = teacher_scores(config, runs, progress)
    table = format_table(config, rows, teacher, variants, command)
    atomic_write_text(out, table)
    return table


def _variant_results(config: DistillConfig, progress: bool) -> dict:
    from edgedistill.distill.run import RESULTS_FILE, distill

    results_file = Path(config.output_dir) / RESULTS_FILE
    if results_file.is_file():
        results = json.loads(results_file.read_text(encoding="utf-8"))
        if results.get("config") == config.to_dict() and recorded_teacher(results) == current_teacher(config):
            return results
    return distill(config, overwrite=True, progress=progress).results


def current_teacher(config: DistillConfig) -> str:
    """The fingerprint of the teacher a config names (its config and weight files)."""
    from edgedistill.distill.teacher_cache import teacher_fingerprint
    from edgedistill.teachers import resolve_teacher

    return teacher_fingerprint(resolve_teacher(config.teacher.model))


def recorded_teacher(results: dict) -> str | None:
    """The fingerprint of the teacher a finished run used (also readable from its cache folder name)."""
    if results["teacher"].get("fingerprint"):
        return results["teacher"]["fingerprint"]
    cache = results.get("teacher_cache") or {}
    return Path(cache["directory"]).name.split("-")[0] if cache.get("directory") else None


def teacher_scores(config: DistillConfig, runs: Path, progress: bool) -> dict:
    """The teacher's metrics on the students' dev and test examples, and the majority baseline."""
    from edgedistill.distill.data import evaluation_examples
    from edgedistill.distill.run import load_run_teacher
    from edgedistill.tasks.finetune import text_prefix_for
    from edgedistill.tasks.metrics import majority_baseline
    from edgedistill.tasks.scoring import score_split
    from edgedistill.tasks.task import load_task

    key = {"teacher": config.teacher.model, "fingerprint": current_teacher(config),
           "data": config.to_dict()["data"], "max_length": config.training.max_length,
           "seed": config.training.seed}
    cached = runs / TEACHER_SCORES
    if cached.is_file():
        saved = json.loads(cached.read_text(encoding="utf-8"))
        if saved.get("key") == key:
            return saved
    started = time.time()
    teacher = load_run_teacher(config.teacher)
    task = load_task(config.data.task)
    prefix = text_prefix_for(config.data.text_prefix, task.kind, teacher.provenance)
    evaluation = evaluation_examples(task, config.data.max_eval_examples, config.training.seed)
    scores = {split: score_split(teacher.model, teacher.tokenizer, task, split,
                                 max_length=config.training.max_length, prefix=prefix,
                                 batch_size=config.training.eval_batch_size, examples=examples,
                                 progress=progress) for split, examples in evaluation.items()}
    baseline = {split: majority_baseline(task.kind, task.gold_labels("train"), [e.label for e in examples],
                                         task.labels) for split, examples in evaluation.items()}
    from edgedistill.accounting import count_parameters

    saved = {"key": key, "display_name": teacher.display_name, "scores": scores,
             "majority_baseline": baseline, "parameters": count_parameters(teacher.model).as_dict(),
             "shape": _shape(teacher.model), "reported": _reported(teacher.path),
             "seconds": round(time.time() - started, 1)}
    atomic_write_text(cached, json.dumps(saved, indent=2, ensure_ascii=False) + "\n")
    return saved


def _shape(model) -> dict:
    from edgedistill.distill.run import shape_of

    return shape_of(model)


def _reported(location) -> dict | None:
    """What the teacher's own results.json (from edgedistill finetune) reports, if it has one."""
    path = Path(str(location)) / "results.json"
    if not path.is_file():
        return None
    results = json.loads(path.read_text(encoding="utf-8"))
    return {"test": results.get("test"), "dev": results.get("dev"), "training": results.get("training"),
            "data": results.get("data")}


# ---------------------------------------------------------------- the table

def _metric(scores: dict | None, name: str = "macro_f1") -> float | None:
    return None if not scores or name not in scores else float(scores[name])


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _size(shape: dict, parameters: dict) -> str:
    return (f"{shape['layers']}L/{shape['hidden_size']}H/{shape['heads']}/{shape['intermediate_size']} | "
            f"{parameters['total'] / 1e6:.1f}M ({parameters['non_embedding'] / 1e6:.2f}M)")


def format_table(config: DistillConfig, rows: dict[str, dict], teacher: dict,
                 variants: dict[str, tuple[str, ...]], command: str) -> str:
    teacher_test = _metric(teacher["scores"].get("test"))
    lines = [
        f"<!-- regenerate: {command} -->",
        f"# Distillation ablation: {config.name} on {config.data.task.dataset} {config.data.task.language}",
        "",
        f"Command: `{command}`",
        "",
        "| model | loss terms (weight) | shape L/H/heads/FFN | params total (non-emb.) | dev macro-F1 "
        "| test macro-F1 | test, % of teacher | train s | s/step |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| teacher: {teacher['display_name']} | – | {_size(teacher['shape'], teacher['parameters'])} | "
        f"{_fmt(_metric(teacher['scores'].get('dev')))} | {_fmt(teacher_test)} | 100% | – | – |",
    ]
    for name, results in rows.items():
        terms = ", ".join(f"{t['type']} ({t['weight']:g}{_temperature(t)})" for t in results["losses"])
        test = _metric(results.get("test"))
        share = f"{100 * test / teacher_test:.1f}%" if test is not None and teacher_test else "–"
        student, training = results["student"], results["training"]
        lines.append(f"| student `{name}` | {terms} | {_size(student['shape'], student['parameters'])}"
                     f" | {_fmt(_metric(results.get('dev')))} | {_fmt(test)} | {share} | "
                     f"{training['train_seconds']:.0f} | {training['seconds_per_step']:.2f} |")
    baseline = teacher["majority_baseline"]
    lines.append(f"| majority class ({baseline['test']['label']}) | – | – | – | "
                 f"{_fmt(_metric(baseline.get('dev')))} | {_fmt(_metric(baseline.get('test')))} "
                 f"| – | – | – |")
    lines += ["", *_settings(config, rows, teacher, variants)]
    return "\n".join(lines) + "\n"


def _describe_variant(name: str, spec: tuple[str, ...]) -> str:
    terms, overrides = _split_variant(spec)
    text = f"`{name}` keeps {', '.join(terms)}"
    return text + (f" with {', '.join(f'`{o}`' for o in overrides)}" if overrides else "")


def _teacher_outputs(training) -> str:
    if training.cache_teacher:
        return f"cached on disk (top-{training.top_k} logits, chosen attention maps), computed once"
    return "computed live at every step"


def _temperature(term: dict) -> str:
    return f", T={term['temperature']:g}" if "temperature" in term else ""


def _settings(config: DistillConfig, rows: dict[str, dict], teacher: dict, variants: dict) -> list[str]:
    first = next(iter(rows.values()))
    data, training, env = first["data"], config.training, first["environment"]
    lines = [
        "Settings (identical for every student):",
        "",
        f"- teacher: {teacher['display_name']} (`{config.teacher.model}`), scored here on the same examples "
        f"as the students, max_length {training.max_length}",
        f"- data: {data['source']}, {data['train_examples']} training examples (shuffled with seed "
        f"{training.seed}), dev {data.get('dev_examples', '–')}, test {data.get('test_examples', '–')} "
        f"examples; "
        f"text prefix {data['text_prefix']!r}; max_length {training.max_length}",
        f"- student: init {config.student.init}, embeddings {config.student.embeddings}; "
        f"{training.epochs:g} epochs, batch {training.batch_size}, learning rate {training.learning_rate:g}, "
        f"warmup {training.warmup_ratio:g}, weight decay {training.weight_decay:g}, precision "
        f"{training.precision}, word embeddings "
        f"{'frozen' if training.freeze_word_embeddings else 'trained'}; "
        f"teacher outputs {_teacher_outputs(training)}",
        "- variants: " + "; ".join(_describe_variant(n, spec) for n, spec in variants.items())
        + " (kept weights rescaled to the recipe's total)",
        f"- machine: {env.get('cpu')}, torch {env.get('torch')} with {env.get('torch_threads')} threads, "
        f"device {env.get('device')}",
    ]
    reported = teacher.get("reported")
    if reported and reported.get("test"):
        lines.append(f"- the teacher's own results.json (edgedistill finetune) reports test macro-F1 "
                     f"{_fmt(_metric(reported['test']))} on {reported['test'].get('examples')} examples")
    return lines

