"""A recipe becomes the list of stages ``edgedistill run`` carries out, each with its settings.

Order: fine-tune the teacher (when it is not yet fine-tuned for the recipe's task), distil, the
recipe's ``[[next]]`` steps (trim-vocab, prune-ffn, prune-heads, reduce-hidden, a further distill
round, finetune), export to ONNX FP32, quantize to INT8 behind the accuracy gate, benchmark the
teacher against the student, and write the report. An ``export`` or ``bench`` step in ``[[next]]``
holds the options of those stages (they run in any case).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.atomic import read_json
from edgedistill.chain import steps
from edgedistill.chain.stages import Stage
from edgedistill.chain.steps import ChainError
from edgedistill.distill.config import COMPRESS_STEP_CONFIGS, TEXT_SOURCE_KEYS, DistillConfig

EXPORT_KEYS = ("target", "variants", "optimize", "opset", "backend", "max_length", "external_data")
QUANTIZE_DEFAULTS = {"scheme": "dynamic", "preset": "auto", "per_channel": False, "keep_fp32": [],
                     "max_drop": 1.0, "dev_limit": None}
BENCH_DEFAULTS = {"seq_len": 128, "batch_size": 1, "threads": 1, "rounds": 2, "warmup": 3, "iterations": 20}
BUILTIN_DATASETS = ("afrisenti", "masakhaner", "sib200", "ud-pos")


@dataclass
class ChainOptions:
    out: Path
    progress: bool = True


def apply_language(values: dict[str, Any], lang: str) -> dict[str, Any]:
    """The recipe with its data, the text of its compression steps and any finetune task in ``lang``."""
    values = copy.deepcopy(values)
    data = values.get("data", {})
    for part in ("task", "raw"):
        if isinstance(data.get(part), dict):
            data[part]["language"] = lang
    for step in values.get("next", []):
        if "languages" in step:
            step["languages"] = [lang]
        if isinstance(step.get("data"), dict):
            step["data"]["language"] = lang
    return values


def build_stages(config: DistillConfig, options: ChainOptions) -> list[Stage]:
    """The stages for ``config``, in order; bad step options fail here, before anything runs."""
    values = config.to_dict()
    task = values["data"].get("task")
    _check_data(task)
    _check_baseline_libraries()
    plan = _Plan(options.progress)
    title = "fine-tune the teacher" if _needs_finetune(config) else "teacher (used as it is)"
    plan.add("teacher", title, steps.teacher, teacher=config.teacher.model,
             teacher_files=_teacher_files(config.teacher.model), finetune=_teacher_finetune(config))
    base = {k: v for k, v in values.items() if k not in ("next", "output_dir")}
    plan.add("distill", f"distill ({config.name})", steps.distill, config=base,
             teacher_from=plan.stages[0].name, where=config.name)
    export_options, bench_options, task = _add_next_steps(plan, config, base, task)
    if task is None:
        raise ChainError(f"recipe {config.name} has no task to score and quantize on: give it a [data.task] "
                         f"or a [[next]] finetune step with data = {{ dataset = ..., language = ... }}")
    _add_delivery(plan, config, export_options, bench_options, task)
    return plan.stages


def _add_next_steps(plan: _Plan, config: DistillConfig, base: dict, task: dict | None
                    ) -> tuple[dict, dict, dict | None]:
    """The recipe's [[next]] steps as stages; returns the export and bench options and the task."""
    export_options, bench_options = {}, {}
    for index, step in enumerate(config.next):
        where = f"next[{index}] ({step.step})"
        if step.step == "export":
            export_options = step.options
        elif step.step == "bench":
            bench_options = step.options
        elif step.step == "distill":
            plan.add(f"distill-{index + 1}", f"distill again ({step.options.get('name', 'round 2')})",
                     steps.distill, config=_round(base, step.options, index), teacher_from=plan.last_model,
                     where=where)
        elif step.step == "finetune":
            finetune = {**_scoring_defaults(config), **_student_finetune(step.options, task, where)}
            plan.add("finetune", "fine-tune the student", steps.finetune_student, finetune=finetune,
                     source=plan.last_model)
            task = task or finetune["data"]
        else:
            plan.add(step.step, step.step, steps.compress, step=step.step, source=plan.last_model,
                     **_compress_settings(step.step, step.options, task))
    return export_options, bench_options, task


class _Plan:
    def __init__(self, progress: bool) -> None:
        self.stages: list[Stage] = []
        self.progress = progress
        self.last_model = ""

    def add(self, kind: str, title: str, execute, **settings: Any) -> None:
        name = f"{len(self.stages) + 1:02d}-{kind}"
        # The settings must be plain JSON: they are hashed into the fingerprint and stored.
        plain = json.loads(json.dumps(settings, default=str))
        execute_here = functools.partial(execute, {**plain, "progress": self.progress})
        self.stages.append(Stage(name, title, plain, execute_here))
        if kind not in ("export", "quantize", "evaluate", "baseline", "bench", "report"):
            self.last_model = name


def _add_delivery(plan: _Plan, config: DistillConfig, export_options: dict, bench_options: dict,
                  task: dict | None) -> None:
    export, quantize = _export_settings(export_options)
    teacher, student = plan.stages[0].name, plan.last_model
    plan.add("export", "export ONNX FP32", steps.export, source=student, options=export)
    fp32 = plan.stages[-1].name
    plan.add("quantize", "quantize INT8 behind the accuracy gate", steps.quantize, source=fp32,
             options=quantize, data=task)
    int8 = plan.stages[-1].name
    plan.add("evaluate", "score both bundles on the test sample", steps.evaluate, fp32=fp32, int8=int8,
             data=task, limit=config.data.max_eval_examples, seed=config.training.seed)
    scores = plan.stages[-1].name
    plan.add("baseline", "fit the baseline, score it on the test sample", steps.baseline, data=task,
             limit=config.data.max_eval_examples, seed=config.training.seed)
    baseline = plan.stages[-1].name
    variants = [("teacher-pytorch-fp32", "pytorch", teacher), ("student-pytorch-fp32", "pytorch", student),
                ("student-onnx-fp32", "onnx", fp32), ("student-onnx-int8", "onnx", int8)]
    plan.add("bench", "benchmark teacher vs student", steps.bench, variants=variants,
             options=_known(bench_options, BENCH_DEFAULTS, "the bench step"))
    plan.add("report", "report and model card", steps.report, recipe=config.name, teacher=teacher,
             student=student, fp32=fp32, int8=int8, scores=scores, baseline=baseline,
             bench=plan.stages[-1].name,
             stages=[stage.name for stage in plan.stages])


# ---------------------------------------------------------------- settings of each kind of stage

def _check_data(task: dict | None) -> None:
    if task and task.get("dataset") in BUILTIN_DATASETS:
        from edgedistill.data import data_root

        data_root()  # one sentence naming $EDGEDISTILL_DATA and ../shared/data when neither is there


def _check_baseline_libraries() -> None:
    """Every run fits the baseline its student is reported beside: say now, not hours in, if it cannot."""
    import importlib.util

    missing = [name for name in ("sklearn", "sklearn_crfsuite") if importlib.util.find_spec(name) is None]
    if missing:
        raise ChainError(f"edgedistill run scores a baseline beside every student, and {missing[0]} is not "
                         f"installed: pip install 'edgedistill[baselines]'")


def _teacher_task(model: str) -> dict:
    folder = Path(model).expanduser()
    return read_json(folder / steps.TASK_FILE) if folder.is_dir() else {}


def _needs_finetune(config: DistillConfig) -> bool:
    task = config.data.task
    if task is None:
        return False
    recorded = _teacher_task(config.teacher.model).get("data") or {}
    return (recorded.get("dataset"), recorded.get("language")) != (task.dataset, task.language)


def _teacher_files(model: str) -> str:
    from edgedistill.distill.teacher_cache import teacher_fingerprint

    path = Path(model).expanduser()
    return teacher_fingerprint(path) if path.is_dir() else model


def _teacher_finetune(config: DistillConfig) -> dict | None:
    """The teacher's fine-tuning run; evaluated on the student's test sample so the two compare."""
    if not _needs_finetune(config):
        return None
    settings = {**_scoring_defaults(config), **config.teacher.finetune}
    return {**settings, "data": dataclasses.asdict(config.data.task), "model": config.teacher.model}


def _scoring_defaults(config: DistillConfig) -> dict:
    """Fine-tuning runs score on the distillation's sample (same size, same seed), unless told otherwise."""
    limit = config.data.max_eval_examples
    return {"max_dev_examples": limit, "max_test_examples": limit, "seed": config.training.seed,
            "max_length": config.training.max_length}


def _round(base: dict, options: dict, index: int) -> dict:
    """A further distillation round: the step's tables replace the recipe's."""
    merged = {**copy.deepcopy(base), **copy.deepcopy(options)}
    merged["name"] = options.get("name", f"{base['name']}-round{index + 2}")
    merged["teacher"] = {"model": "", "head": "auto"}  # the previous stage's model, filled in at run time
    DistillConfig.from_dict(merged, source=f"next[{index}] (distill)")  # a bad table fails before any stage
    return merged


def _student_finetune(options: dict, task: dict | None, where: str) -> dict:
    from edgedistill.tasks.config import FinetuneConfig

    data = options.get("data") or task
    if not data:
        raise ChainError(f"{where} needs a task: give the recipe a [data.task] or the step a data table "
                         f"(data = {{ dataset = \"afrisenti\", language = \"hau\" }})")
    values = {**options, "data": data}
    allowed = {f.name for f in dataclasses.fields(FinetuneConfig)} - {"output_dir", "model", "checkpoint_dir"}
    _known(values, dict.fromkeys(allowed), where)
    return values


def _compress_settings(step: str, options: dict, task: dict | None) -> dict:
    import importlib

    module_name, class_name = COMPRESS_STEP_CONFIGS[step]
    config_class = getattr(importlib.import_module(module_name), class_name)
    config = config_class.from_dict({k: v for k, v in options.items() if k not in TEXT_SOURCE_KEYS},
                                    source=f"the {step} step")
    languages = options.get("languages")
    if languages is None and not options.get("files"):
        languages = [task["language"]] if task and task.get("language") else []
    text = {"languages": list(languages or []), "files": [str(f) for f in options.get("files", [])],
            "max_sentences": options.get("max_sentences")}
    task_text = options.get("task_text", False)
    if not isinstance(task_text, bool):
        raise ChainError(f"task_text of the {step} step must be true or false, not {task_text!r}")
    if task_text:  # only when asked, so that the stages of earlier runs keep their fingerprints
        text["task_text"] = True
    return {"config": config.to_dict(), "text": text}


def _export_settings(options: dict) -> tuple[dict, dict]:
    unknown = sorted(set(options) - set(EXPORT_KEYS) - set(QUANTIZE_DEFAULTS))
    if unknown:
        raise ChainError(f"the export step has no key {unknown[0]!r}; it takes "
                         f"{', '.join([*EXPORT_KEYS, *QUANTIZE_DEFAULTS])}")
    export = {k: v for k, v in options.items() if k in EXPORT_KEYS}
    quantize = {**QUANTIZE_DEFAULTS, **{k: v for k, v in options.items() if k in QUANTIZE_DEFAULTS}}
    return export, quantize


def _known(options: dict, defaults: dict, where: str) -> dict:
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ChainError(f"{where} has no key {unknown[0]!r}; it takes {', '.join(sorted(defaults))}")
    return {**{k: v for k, v in defaults.items() if v is not None}, **options}

