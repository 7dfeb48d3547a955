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
from edgedistill.chain.runner import Stage
from edgedistill.chain.steps import ChainError
from edgedistill.distill.config import COMPRESS_STEP_CONFIGS, TEXT_SOURCE_KEYS, DistillConfig
from edgedistill.output_guard import DATA_PATH_KEYS, data_paths, refuse_output_over_inputs

EXPORT_KEYS = ("target", "variants", "optimize", "opset", "backend", "max_length", "external_data")
# Per-channel weights: on the default students they lost less than per-tensor (MasakhaNER hau test entity
# F1 -0.2 against -0.8 points; SIB-200 hau macro-F1 -1.2 against -1.9, and 92% of its test decisions
# equal to FP32's against 89%) at the same speed: benchmarks/results/int8_schemes.md.
QUANTIZE_DEFAULTS = {"scheme": "dynamic", "preset": "auto", "per_channel": True, "keep_fp32": [],
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


def with_task_data(values: dict[str, Any], data: dict[str, Any], lang: str | None) -> dict[str, Any]:
    """The recipe with the user's own data (DataSpec keys) as its task.

    The data replaces ``[data.task]`` and the data of every finetune step (a recipe that distils on
    raw text learns the task there). Without ``lang`` the compression steps' raw-text languages are
    dropped, so they count the task's own training text (``apply_language`` sets them otherwise).
    """
    values = copy.deepcopy(values)
    spec = _absolute_paths({**data, "language": lang} if lang else dict(data))
    recipe_data = values.setdefault("data", {})
    if recipe_data.get("task") is not None:
        recipe_data["task"] = spec
    elif not any(step.get("step") == "finetune" for step in values.get("next", [])):
        raise ChainError(f"recipe {values.get('name')} distils on raw text and has no finetune step, so it "
                         f"cannot learn the task of --data: use a recipe with a [data.task] (demo, comet)")
    raw = recipe_data.get("raw")
    if raw and not raw.get("file") and not lang:
        raise ChainError(f"recipe {values.get('name')} distils on raw text in a language ([data.raw]): "
                         f"give the language of your data with --lang, or a text file with "
                         f"--set data.raw.file=FILE")
    for step in values.get("next", []):
        if step.get("step") == "finetune":
            step["data"] = dict(spec)
        elif "languages" in step and not lang:
            step["languages"] = []
    return values


def _absolute_paths(spec: dict[str, Any]) -> dict[str, Any]:
    """Local files and folders of a data spec as absolute paths: the stages and the model's task file
    then name the same files wherever they run from."""
    keys = [k for k in DATA_PATH_KEYS if spec.get("dataset") != "hf" or k in ("labels_file", "source")]
    return {key: str(Path(value).expanduser().resolve()) if key in keys and value
            and Path(value).expanduser().exists() else value for key, value in spec.items()}


def build_stages(config: DistillConfig, options: ChainOptions) -> list[Stage]:
    """The stages for ``config``, in order. Every input is checked here, before anything runs or is
    written: step options, the task's data (every split read), every text source, the teacher's
    fine-tuning values, and that the output folder holds none of the inputs."""
    values = config.to_dict()
    task = values["data"].get("task")
    specs = _task_specs(values)
    if not specs:
        raise ChainError(f"recipe {config.name} has no task to score and quantize on: give it a [data.task] "
                         f"or a [[next]] finetune step with data = {{ dataset = ..., language = ... }}")
    for spec in specs:
        _check_task(spec)
    _check_raw_text(values["data"], "data")
    refuse_output_over_inputs(options.out, _input_paths(config, specs), option="--out")
    _check_baseline_libraries()
    plan = _Plan(options.progress)
    reason = _finetune_reason(config)
    title = "fine-tune the teacher" if reason else "teacher (used as it is)"
    plan.add("teacher", title, steps.teacher, note=reason or "", teacher=config.teacher.model,
             teacher_files=_teacher_files(config.teacher.model), finetune=_teacher_finetune(config),
             **_data_files(specs))
    base = {k: v for k, v in values.items() if k not in ("next", "output_dir")}
    plan.add("distill", f"distill ({config.name})", steps.distill, config=base,
             teacher_from=plan.stages[0].name, where=config.name)
    export_options, bench_options, task = _add_next_steps(plan, config, base, task)
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
            merged = _round(base, step.options, index)
            _check_raw_text(merged["data"], f"next[{index}].data")
            plan.add(f"distill-{index + 1}", f"distill again ({step.options.get('name', 'round 2')})",
                     steps.distill, config=merged, teacher_from=plan.last_model, where=where)
        elif step.step == "finetune":
            finetune = {**_scoring_defaults(config), **_student_finetune(step.options, task, where)}
            plan.add("finetune", "fine-tune the student", steps.finetune_student, finetune=finetune,
                     source=plan.last_model)
            task = task or finetune["data"]
        else:
            settings, note = _compress_settings(step.step, step.options, task)
            plan.add(step.step, step.step, steps.compress, note=note, step=step.step, source=plan.last_model,
                     **settings)
    return export_options, bench_options, task


class _Plan:
    def __init__(self, progress: bool) -> None:
        self.stages: list[Stage] = []
        self.progress = progress
        self.last_model = ""

    def add(self, kind: str, title: str, execute, note: str = "", **settings: Any) -> None:
        name = f"{len(self.stages) + 1:02d}-{kind}"
        # The settings must be plain JSON: they are hashed into the fingerprint and stored.
        plain = json.loads(json.dumps(settings, default=str))
        execute_here = functools.partial(execute, {**plain, "progress": self.progress})
        self.stages.append(Stage(name, title, plain, execute_here, note))
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

def _task_specs(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every task the chain reads: [data.task] and the data of the finetune steps, each once."""
    specs = [values["data"].get("task")]
    specs += [step.get("data") for step in values.get("next", []) if step.get("step") == "finetune"]
    unique: list[dict[str, Any]] = []
    for spec in specs:
        if spec and spec not in unique:
            unique.append(spec)
    return unique


def _check_task(spec: dict[str, Any]) -> None:
    """Read every split of a task now (a bad line, a missing file or an unknown language fails here,
    not at stage 1), and require the three splits the chain uses."""
    from edgedistill.tasks import DataSpec, load_task

    if spec.get("dataset") in BUILTIN_DATASETS:
        from edgedistill.data import data_root

        data_root()  # one sentence naming $EDGEDISTILL_DATA and ../shared/data when neither is there
    try:
        task = load_task(DataSpec(**spec))
    except TypeError as exc:
        raise ChainError(f"the task's data table is incomplete: {exc}") from None
    missing = [split for split in ("train", "dev", "test") if split not in task.splits]
    if missing:
        raise ChainError(f"edgedistill run trains on the train split, gates INT8 on dev and scores on test, "
                         f"and the task {task.name} has no {missing[0]} split: give --{missing[0]} FILE")


def _raw_text_problem(language: str) -> str | None:
    """Why there is no raw text for ``language`` (None when there is)."""
    from edgedistill.data import DataNotFound, raw_sentences

    try:
        return None if raw_sentences(language, limit=1) else f"the raw text of {language!r} is empty"
    except DataNotFound as exc:
        return str(exc)


def _check_raw_text(data: dict[str, Any], where: str) -> None:
    """Raw text a distillation reads ([data.raw], or raw text added to a task) must be there."""
    for part in ("raw", "unlabelled"):
        raw = data.get(part)
        if not raw:
            continue
        if raw.get("file"):
            if not Path(raw["file"]).expanduser().is_file():
                raise ChainError(f"{where}.{part}.file {raw['file']} does not exist")
        elif problem := _raw_text_problem(raw["language"]):
            raise ChainError(f"{where}.{part}: {problem} (or give {where}.{part}.file, one sentence a line)")


def _input_paths(config: DistillConfig, specs: list[dict[str, Any]]) -> list[str | None]:
    """The files and folders the chain reads, which its output folder must not hold."""
    raw = [config.data.raw.file if config.data.raw else None]
    files = [f for step in config.next for f in step.options.get("files", [])]
    return [config.teacher.model, config.student.path, *raw, *files,
            *(path for spec in specs for path in data_paths(spec))]


def _data_files(specs: list[dict[str, Any]]) -> dict[str, Any]:
    """The contents (SHA-256) of the task's own files, in the teacher stage's settings: a file changed in
    place changes the fingerprint, and every stage is made again. Built-in data adds nothing."""
    from edgedistill.tasks.identity import data_identity

    hashes = {f"{spec['dataset']}:{key}": entry["sha256"] for spec in specs
              for key, entry in data_identity(spec)["files"].items()}
    return {"data_files": hashes} if hashes else {}


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


def _finetune_reason(config: DistillConfig) -> str | None:
    """Why the teacher must be fine-tuned on the task first; None when it is fine-tuned on this very
    data already. Your own files must be the same files (same contents), not only the same format."""
    from edgedistill.tasks.identity import changed_files, data_identity, same_data

    task = config.data.task
    if task is None:
        return None
    recorded = _teacher_task(config.teacher.model)
    if not recorded.get("data"):
        return f"{config.teacher.model} is not fine-tuned on a task"
    identity = data_identity(task)
    known = recorded.get("data_identity")
    if known is None and not identity["files"] and not data_paths(recorded["data"]):
        known = data_identity(recorded["data"])  # built-in data, recorded before identities were
    if same_data(known, identity):
        return None
    if known is None:
        return f"{config.teacher.model} does not record the contents of the files it was fine-tuned on"
    if known["reading"] != identity["reading"]:
        return f"{config.teacher.model} was fine-tuned on other data ({known['reading']})"
    return (f"{config.teacher.model} was fine-tuned on other files "
            f"({', '.join(changed_files(known, identity))} differ)")


def _needs_finetune(config: DistillConfig) -> bool:
    return _finetune_reason(config) is not None


def _teacher_files(model: str) -> str:
    from edgedistill.distill.teacher_cache import teacher_fingerprint

    path = Path(model).expanduser()
    return teacher_fingerprint(path) if path.is_dir() else model


def _teacher_finetune(config: DistillConfig) -> dict | None:
    """The teacher's fine-tuning run; evaluated on the student's test sample so the two compare."""
    if not _needs_finetune(config):
        return None
    settings = {**_scoring_defaults(config), **config.teacher.finetune}
    settings = {**settings, "data": dataclasses.asdict(config.data.task), "model": config.teacher.model}
    _finetune_config(settings, "[teacher.finetune]")
    return settings


def _finetune_config(settings: dict, where: str) -> None:
    """Build the fine-tuning config now, so that its own checks of every value run before any stage."""
    from edgedistill.tasks.config import ConfigError, FinetuneConfig

    try:
        FinetuneConfig.from_dict({**settings, "output_dir": "(chosen by the chain)"}, where=where)
    except ConfigError as exc:
        raise ChainError(str(exc)) from None


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
    _finetune_config(values, where)
    return values


def _compress_settings(step: str, options: dict, task: dict | None) -> tuple[dict, str]:
    """The step's config and text sources, and a note when the task's text stands in for raw text."""
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
    note = ""
    if step != "reduce-hidden":  # the one step that reads no text
        task_text, note = _text_sources(step, text, task_text, task)
    if task_text:  # only when asked or needed, so that the stages of earlier runs keep their fingerprints
        text["task_text"] = True
    return {"config": config.to_dict(), "text": text}, note


def _text_sources(step: str, text: dict, task_text: bool, task: dict | None) -> tuple[bool, str]:
    """Check every text source of a compression step now. A language without raw text gives way to
    the task's own training text (as the model reads it), and so does a step given no text at all."""
    from edgedistill.compress.text import read_text_file

    for path in text["files"]:
        read_text_file(path)  # missing, a directory, not UTF-8: one sentence naming the file
    problems = {lang: _raw_text_problem(lang) for lang in text["languages"]}
    without = [lang for lang, problem in problems.items() if problem]
    text["languages"] = [lang for lang in text["languages"] if lang not in without]
    note = ""
    if without or not (text["languages"] or text["files"] or task_text):
        if task is None:
            reason = problems[without[0]] if without else "it has no languages and no files"
            raise ChainError(f"the {step} step has no text to count tokens on ({reason}), and the model has "
                             f"no task yet whose training text could stand in: give the step files = "
                             f"[\"text.txt\"] (one text a line)")
        task_text = True
        note = "text: the task's training text"
        note += f" (no raw text for {', '.join(without)})" if without else ""
    elif task_text and task is None:
        raise ChainError(f"task_text of the {step} step needs a task the model was trained on, and it has "
                         f"none yet: move the step after a finetune step, or give it files")
    return task_text, note


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

