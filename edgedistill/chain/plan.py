"""A recipe becomes the list of stages ``edgedistill run`` carries out, each with its settings.

Order: fine-tune the teacher (when it is not yet fine-tuned for the recipe's task), distil, the
recipe's ``[[next]]`` steps (trim-vocab, prune-ffn, prune-heads, reduce-hidden, a further distill
round, finetune), export to ONNX FP32, quantize to INT8 behind the accuracy gate, benchmark the
teacher against the student, and write the report. An ``export`` or ``bench`` step in ``[[next]]``
holds the options of those stages (they run in any case).

The recipe arrives read and checked (``edgedistill.chain.recipe.Recipe``); each stage receives typed
objects, and its settings (hashed into its fingerprint, stored in its record) are derived from them.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.atomic import read_json
from edgedistill.chain import steps
from edgedistill.chain.next_steps import CompressStep, DistillStep, FinetuneStep, TextSources
from edgedistill.chain.recipe import Recipe
from edgedistill.chain.runner import Stage
from edgedistill.chain.steps import ChainError
from edgedistill.distill.config import DataConfig, DistillConfig
from edgedistill.export.quantize_options import QuantizeOptions
from edgedistill.output_guard import DATA_PATH_KEYS, data_paths, refuse_output_over_inputs
from edgedistill.tasks.config import FinetuneConfig

# The chain's INT8 options when the recipe gives none (a shipping table's settings key hashes them).
QUANTIZE_DEFAULTS = QuantizeOptions().to_dict()
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


def build_stages(recipe: Recipe, options: ChainOptions) -> list[Stage]:
    """The stages for ``recipe``, in order. Every input is checked here, before anything runs or is
    written: the task's data (every split read), every text source, the teacher's fine-tuning values,
    and that the output folder holds none of the inputs (the recipe's own values were checked when read)."""
    task = dataclasses.asdict(recipe.data.task) if recipe.data.task else None
    specs = _task_specs(recipe, task)
    if not specs:
        raise ChainError(f"recipe {recipe.name} has no task to score and quantize on: give it a [data.task] "
                         f"or a [[next]] finetune step with data = {{ dataset = ..., language = ... }}")
    for spec in specs:
        _check_task(spec)
    _check_raw_text(recipe.data, "data")
    refuse_output_over_inputs(options.out, _input_paths(recipe, specs), option="--out")
    _check_baseline_libraries()
    plan = _Plan(options.progress)
    _add_teacher(plan, recipe, specs)
    first = recipe.distillation()
    plan.add("distill", f"distill ({recipe.name})",
             functools.partial(steps.distill, first, plan.stages[0].name, progress=plan.progress),
             {"config": _round_table(first), "teacher_from": plan.stages[0].name, "where": recipe.name})
    task = _add_next_steps(plan, recipe, task)
    _add_delivery(plan, recipe, task)
    return plan.stages


class _Plan:
    def __init__(self, progress: bool) -> None:
        self.stages: list[Stage] = []
        self.progress = progress
        self.last_model = ""

    def add(self, kind: str, title: str, execute: Callable[[Path, dict], dict], settings: dict[str, Any],
            note: str = "") -> None:
        """Append a stage; ``settings`` (plain JSON values) are hashed into its fingerprint and stored."""
        name = f"{len(self.stages) + 1:02d}-{kind}"
        self.stages.append(Stage(name, title, settings, execute, note))
        if kind not in ("export", "quantize", "evaluate", "baseline", "bench", "report"):
            self.last_model = name


def _add_teacher(plan: _Plan, recipe: Recipe, specs: list[dict[str, Any]]) -> None:
    reason = _finetune_reason(recipe)
    finetune = _teacher_finetune(recipe)
    config = _finetune_config(finetune, "[teacher.finetune]") if finetune else None
    plan.add("teacher", "fine-tune the teacher" if reason else "teacher (used as it is)",
             functools.partial(steps.teacher, recipe.teacher.model, config, progress=plan.progress),
             {"teacher": recipe.teacher.model, "teacher_files": _teacher_files(recipe.teacher.model),
              "finetune": finetune, **_data_files(specs)}, note=reason or "")


def _add_next_steps(plan: _Plan, recipe: Recipe, task: dict | None) -> dict | None:
    """The recipe's [[next]] steps as stages (export and bench steps are options of later stages);
    returns the task the model is then trained on."""
    for index, step in enumerate(recipe.next):
        kind, where = step.kind, f"next[{index}] ({step.step})"
        if isinstance(kind, DistillStep):
            _check_raw_text(kind.config.data, f"next[{index}].data")
            plan.add(f"distill-{index + 1}", f"distill again ({step.options.get('name', 'round 2')})",
                     functools.partial(steps.distill, kind.config, plan.last_model, progress=plan.progress),
                     {"config": kind.table, "teacher_from": plan.last_model, "where": where})
        elif isinstance(kind, FinetuneStep):
            settings = {**_scoring_defaults(recipe), **_student_finetune(kind, task, where)}
            execute = functools.partial(steps.finetune_student, _finetune_config(settings, where),
                                        plan.last_model, progress=plan.progress)
            plan.add("finetune", "fine-tune the student", execute,
                     {"finetune": settings, "source": plan.last_model})
            task = task or settings["data"]
        elif isinstance(kind, CompressStep):
            text, note = _compress_text(kind, task)
            plan.add(step.step, step.step, functools.partial(steps.compress, kind, text, plan.last_model),
                     {"step": step.step, "source": plan.last_model, "config": kind.config.to_dict(),
                      "text": _text_settings(text)}, note=note)
    return task


def _add_delivery(plan: _Plan, recipe: Recipe, task: dict | None) -> None:
    export, quantize, bench = recipe.export_step.export, recipe.export_step.quantize, recipe.bench_step.config
    teacher, student = plan.stages[0].name, plan.last_model
    plan.add("export", "export ONNX FP32", functools.partial(steps.export, export, student),
             {"source": student, "options": export})
    fp32 = plan.stages[-1].name
    plan.add("quantize", "quantize INT8 behind the accuracy gate",
             functools.partial(steps.quantize, quantize, task, fp32),
             {"source": fp32, "options": quantize.to_dict(), "data": task})
    int8 = plan.stages[-1].name
    scored = {"data": task, "limit": recipe.data.max_eval_examples, "seed": recipe.training.seed}
    plan.add("evaluate", "score both bundles on the test sample",
             functools.partial(steps.evaluate, fp32, int8, **scored), {"fp32": fp32, "int8": int8, **scored})
    scores = plan.stages[-1].name
    plan.add("baseline", "fit the baseline, score it on the test sample",
             functools.partial(steps.baseline, **scored), scored)
    baseline = plan.stages[-1].name
    variants = [["teacher-pytorch-fp32", "pytorch", teacher], ["student-pytorch-fp32", "pytorch", student],
                ["student-onnx-fp32", "onnx", fp32], ["student-onnx-int8", "onnx", int8]]
    options = {k: v for k, v in bench.to_dict().items() if k != "reference"}
    plan.add("bench", "benchmark teacher vs student", functools.partial(steps.bench, bench, variants),
             {"variants": variants, "options": options})
    report = {"recipe": recipe.name, "teacher": teacher, "student": student, "fp32": fp32, "int8": int8,
              "scores": scores, "baseline": baseline, "bench": plan.stages[-1].name,
              "stages": [stage.name for stage in plan.stages]}
    plan.add("report", "report and model card", functools.partial(steps.report, report), report)


# ---------------------------------------------------------------- settings of each kind of stage

def _task_specs(recipe: Recipe, task: dict | None) -> list[dict[str, Any]]:
    """Every task the chain reads: [data.task] and the data of the finetune steps (as written), each once."""
    specs = [task] + [step.options.get("data") for step in recipe.next if step.step == "finetune"]
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
        from edgedistill.shared_data import data_root

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
    from edgedistill.shared_data import DataNotFound, raw_sentences

    try:
        return None if raw_sentences(language, limit=1) else f"the raw text of {language!r} is empty"
    except DataNotFound as exc:
        return str(exc)


def _check_raw_text(data: DataConfig, where: str) -> None:
    """Raw text a distillation reads ([data.raw], or raw text added to a task) must be there."""
    for part in ("raw", "unlabelled"):
        raw = getattr(data, part)
        if not raw:
            continue
        if raw.file:
            if not Path(raw.file).expanduser().is_file():
                raise ChainError(f"{where}.{part}.file {raw.file} does not exist")
        elif problem := _raw_text_problem(raw.language):
            raise ChainError(f"{where}.{part}: {problem} (or give {where}.{part}.file, one sentence a line)")


def _input_paths(recipe: Recipe, specs: list[dict[str, Any]]) -> list[str | None]:
    """The files and folders the chain reads, which its output folder must not hold."""
    raw = [recipe.data.raw.file if recipe.data.raw else None]
    files = [f for step in recipe.next if isinstance(step.kind, CompressStep) for f in step.kind.text.files]
    return [recipe.teacher.model, recipe.student.path, *raw, *files,
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
    """The teacher's fine-tuning settings; evaluated on the student's test sample so the two compare."""
    if not _needs_finetune(config):
        return None
    settings = {**_scoring_defaults(config), **config.teacher.finetune}
    return {**settings, "data": dataclasses.asdict(config.data.task), "model": config.teacher.model}


def _finetune_config(settings: dict, where: str) -> FinetuneConfig:
    """The fine-tuning run of ``settings``, its values checked now (the stage sets its output folder)."""
    return FinetuneConfig.from_dict({**settings, "output_dir": "(chosen by the chain)"}, where=where)


def _scoring_defaults(config: DistillConfig) -> dict:
    """Fine-tuning runs score on the distillation's sample (same size, same seed), unless told otherwise."""
    limit = config.data.max_eval_examples
    return {"max_dev_examples": limit, "max_test_examples": limit, "seed": config.training.seed,
            "max_length": config.training.max_length}


def _round_table(config: Recipe) -> dict[str, Any]:
    """A distillation round's settings: its config without the steps and the output folder."""
    return {k: v for k, v in config.to_dict().items() if k not in ("next", "output_dir")}


def _student_finetune(step: FinetuneStep, task: dict | None, where: str) -> dict:
    """The finetune step's options with its task: its own data table, else the model's task so far."""
    data = step.options.get("data") or task
    if not data:
        raise ChainError(f"{where} needs a task: give the recipe a [data.task] or the step a data table "
                         f"(data = {{ dataset = \"afrisenti\", language = \"hau\" }})")
    return {**copy.deepcopy(step.options), "data": data}


def _compress_text(step: CompressStep, task: dict | None) -> tuple[TextSources, str]:
    """Where the step's text comes from, and a note when the task's text stands in for raw text.
    Without languages and files, the language of the task is the language."""
    languages, files = step.text.languages, step.text.files
    if languages is None and not files:
        languages = [task["language"]] if task and task.get("language") else []
    text = TextSources(list(languages or []), list(files), step.text.max_sentences, step.text.task_text)
    if not step.reads_text:
        return text, ""
    return _text_sources(step.name, text, task)


def _text_settings(text: TextSources) -> dict[str, Any]:
    settings = {"languages": text.languages, "files": text.files, "max_sentences": text.max_sentences}
    if text.task_text:  # only when asked or needed: the stages of earlier runs keep their fingerprints
        settings["task_text"] = True
    return settings


def _text_sources(step: str, text: TextSources, task: dict | None) -> tuple[TextSources, str]:
    """Check every text source of a compression step now. A language without raw text gives way to
    the task's own training text (as the model reads it), and so does a step given no text at all."""
    from edgedistill.compress.text import read_text_file

    for path in text.files:
        read_text_file(path)  # missing, a directory, not UTF-8: one sentence naming the file
    problems = {lang: _raw_text_problem(lang) for lang in text.languages}
    without = [lang for lang, problem in problems.items() if problem]
    text = dataclasses.replace(text, languages=[lang for lang in text.languages if lang not in without])
    note = ""
    if without or not (text.languages or text.files or text.task_text):
        if task is None:
            reason = problems[without[0]] if without else "it has no languages and no files"
            raise ChainError(f"the {step} step has no text to count tokens on ({reason}), and the model has "
                             f"no task yet whose training text could stand in: give the step files = "
                             f"[\"text.txt\"] (one text a line)")
        text = dataclasses.replace(text, task_text=True)
        note = "text: the task's training text"
        note += f" (no raw text for {', '.join(without)})" if without else ""
    elif text.task_text and task is None:
        raise ChainError(f"task_text of the {step} step needs a task the model was trained on, and it has "
                         f"none yet: move the step after a finetune step, or give it files")
    return text, note
