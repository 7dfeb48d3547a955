"""Short end-to-end distillations on tiny models: task-specific and task-agnostic runs, the teacher
cache, checkpoint/resume, errors naming the loss term, and two processes under torchrun (gloo)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from distill_support import TINY_STUDENT, tiny_task_config, tiny_teacher  # noqa: E402

from edgedistill.distill.config import (  # noqa: E402
    AttentionTerm,
    DataConfig,
    DistillConfig,
    HiddenTerm,
    KLTerm,
    LogitMSETerm,
    MLMTerm,
    RawTextConfig,
    StudentConfig,
    TeacherConfig,
    TrainingConfig,
)
from edgedistill.tasks.config import DataSpec  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def teachers(tmp_path_factory, fixture_texts):
    from edgedistill.fixtures import tiny_tokenizer

    folder = tmp_path_factory.mktemp("teachers")
    tokenizer = tiny_tokenizer("xlmr", fixture_texts, vocab_size=400)
    return {head: tiny_teacher(folder / head, head, tokenizer)
            for head in ("mlm", "sequence-classification", "token-classification", "base")}


def task_config(teacher: Path, out: Path, **training) -> DistillConfig:
    settings = dict(max_steps=3, batch_size=16, max_length=32, logging_steps=1, eval_batch_size=32)
    settings.update(training)
    losses = [KLTerm(weight=0.5, temperature=2.0), AttentionTerm(weight=0.5)]
    return tiny_task_config(teacher, out, name="tiny-comet", losses=losses, train=48, evaluate=24, **settings)


def raw_config(teacher: Path, out: Path, losses, student=TINY_STUDENT, **training) -> DistillConfig:
    settings = dict(max_steps=2, batch_size=16, max_length=32, logging_steps=1)
    settings.update(training)
    return DistillConfig(name="tiny-raw", output_dir=str(out), teacher=TeacherConfig(model=str(teacher)),
                         data=DataConfig(raw=RawTextConfig(language="hau", max_sentences=40)),
                         student=student, losses=losses, training=TrainingConfig(**settings))


def state_of(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_task_distillation_writes_a_scored_reloadable_student(teachers, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from edgedistill.distill.run import distill

    outcome = distill(task_config(teachers["sequence-classification"], tmp_path / "student"), progress=False)
    results = outcome.results
    assert results["training"]["steps"] == 3
    assert set(results["training"]["history"][0]) >= {"loss", "loss_kl", "loss_attention"}
    assert 0.0 <= results["test"]["macro_f1"] <= 1.0 and results["test"]["examples"] == 24
    assert results["student"]["shape"]["layers"] == 1 and results["teacher"]["shape"]["layers"] == 2
    out = tmp_path / "student"
    task = json.loads((out / "edgedistill-task.json").read_text())
    assert task["labels"] == ["negative", "neutral", "positive"] and task["kind"] == "sequence-classification"
    saved = DistillConfig.load(out / "distill-config.toml")
    assert saved == task_config(teachers["sequence-classification"], out)
    reloaded = AutoModelForSequenceClassification.from_pretrained(out)
    assert reloaded.config.num_hidden_layers == 1 and reloaded.config.id2label[0] == "negative"
    assert not (tmp_path / "student.checkpoints").exists()


def test_mlm_teacher_cache_is_built_once_and_reused_by_the_next_student(teachers, tmp_path):
    from edgedistill.distill.run import distill

    losses = [KLTerm(weight=0.5, temperature=2.0), MLMTerm(weight=0.5), HiddenTerm(weight=1.0)]
    cache = tmp_path / "cache"
    cached = dict(cache_teacher=True, cache_dir=str(cache), top_k=8)
    first = distill(raw_config(teachers["mlm"], tmp_path / "a", losses, **cached), progress=False).results
    assert first["teacher_cache"]["computed"] == ["logits-top8", "logsumexp-T2", "hidden-2"]
    second_student = StudentConfig(init="teacher-layers", layers="last", num_layers=1)
    second = distill(raw_config(teachers["mlm"], tmp_path / "b", losses, student=second_student, **cached),
                     progress=False).results
    assert second["teacher_cache"]["computed"] == [] and len(second["teacher_cache"]["reused"]) == 3
    assert second["data"]["row_mode"] == "masked"


def test_cached_teacher_outputs_match_the_live_teacher(teachers, tmp_path):
    from edgedistill.distill.data import DistillCollator, build_data
    from edgedistill.distill.losses import forward_signals
    from edgedistill.distill.run import load_run_teacher
    from edgedistill.distill.teacher_cache import TeacherCache, teacher_signals_from_batch

    teacher = load_run_teacher(TeacherConfig(model=str(teachers["mlm"])), eager_attention=True)
    data = build_data(DataConfig(raw=RawTextConfig(language="hau", max_sentences=20)), teacher.tokenizer,
                      head="mlm", max_length=32, seed=0, provenance={})
    items = ["logits-top1000", "logsumexp-T1", "attention-1", "hidden-2"]
    cache = TeacherCache(tmp_path / "cache", items)
    pad = teacher.tokenizer.pad_token_id
    cache.ensure(teacher.model, data.features, DistillCollator(pad), row_mode="masked")
    batch = DistillCollator(pad, cache)(data.features[:5])
    cached = teacher_signals_from_batch(batch)
    with torch.no_grad():
        live = forward_signals(teacher.model, batch, row_mode="masked", logits=True, attentions={1},
                               hidden={2}, as_teacher=True)
    mask = batch["attention_mask"].bool()
    assert torch.allclose(cached.attentions[1], live.attentions[1], atol=2e-3)
    assert torch.allclose(cached.hidden[2][mask], live.hidden[2][mask], atol=2e-2, rtol=2e-3)
    dense_top = live.logits.values.topk(cached.logits.values.shape[-1], dim=-1)
    assert torch.allclose(cached.logits.values, dense_top.values, atol=1e-5)
    normaliser = torch.logsumexp(live.logits.values, -1)
    assert torch.allclose(cached.logits.log_normalizers[1.0], normaliser, atol=1e-4)


def test_resuming_from_a_checkpoint_ends_with_the_same_weights(teachers, tmp_path):
    from edgedistill.distill.run import DistillError, distill

    config = task_config(teachers["sequence-classification"], tmp_path / "student", max_steps=4, save_steps=2,
                         keep_checkpoints=True, group_by_length=False)
    straight = state_of(distill(config, progress=False).student)
    checkpoints = tmp_path / "student.checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    shutil.rmtree(checkpoints / "checkpoint-4")
    resumed_outcome = distill(config, overwrite=True, progress=False)
    resumed = state_of(resumed_outcome.student)
    assert resumed_outcome.results["training"]["steps"] == 4
    for key, value in straight.items():
        assert torch.allclose(value, resumed[key], atol=1e-6), key
    changed = config.replace(training=TrainingConfig(**{**config.to_dict()["training"], "max_steps": 5}))
    with pytest.raises(DistillError, match="holds a different run"):
        distill(changed, overwrite=True, progress=False)


def test_token_classification_distils_every_token_with_a_cached_teacher(teachers, tmp_path):
    from edgedistill.distill.run import distill

    config = task_config(teachers["token-classification"], tmp_path / "ner", max_steps=2, cache_teacher=True,
                         cache_dir=str(tmp_path / "cache"))
    ner = DataConfig(task=DataSpec("masakhaner", language="hau"), max_train_examples=32, max_eval_examples=16)
    config = config.replace(data=ner)
    results = distill(config, progress=False).results
    assert results["data"]["row_mode"] == "token"
    assert "entity_f1" in results["test"] and results["test"]["sentences"] == 16
    assert results["teacher_cache"]["computed"] == ["logits-top64", "logsumexp-T2", "attention-1"]


def test_logit_terms_need_a_teacher_with_logits(teachers, tmp_path):
    from edgedistill.distill.run import DistillError, distill

    config = raw_config(teachers["base"], tmp_path / "x", [AttentionTerm(), LogitMSETerm()])
    with pytest.raises(DistillError, match=r"losses\[1\] \(logit-mse\) compares logits"):
        distill(config, progress=False)


def test_headless_teacher_distils_hidden_states_and_attention(teachers, tmp_path):
    """As for multilingual-e5: no MLM head, so hidden states (through a learned map) and attention."""
    from edgedistill.distill.run import distill

    losses = [HiddenTerm(weight=1.0, layers=[[-1, -1]]), AttentionTerm(weight=1.0)]
    outcome = distill(raw_config(teachers["base"], tmp_path / "s", losses), progress=False)
    assert outcome.results["student"]["shape"]["class"] == "XLMRobertaModel"
    assert outcome.results["data"]["row_mode"] is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_under_torchrun_end_with_identical_weights(teachers, tmp_path):
    config = task_config(teachers["sequence-classification"], tmp_path / "student", max_steps=2, batch_size=8)
    config.save(tmp_path / "run.toml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "TRANSFORMERS_VERBOSITY": "error"}
    worker = PROJECT_ROOT / "tests" / "distill_ddp_worker.py"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
               "127.0.0.1", "--master-port", str(_free_port()), str(worker), str(tmp_path / "run.toml"),
               str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["digest"] == ranks[1]["digest"]
    assert ranks[0]["wrote_output"] and not ranks[1]["wrote_output"]
    assert (tmp_path / "student" / "results.json").is_file()


def test_ablation_tabulates_variants_beside_the_teacher_and_reuses_finished_ones(teachers, tmp_path):
    from edgedistill.distill.ablation import run_ablation

    config = task_config(teachers["sequence-classification"], tmp_path / "unused", max_steps=1)
    variants = {"both": ("kl", "attention")}
    out, runs, command = tmp_path / "table.md", tmp_path / "runs", "edgedistill distill-ablation x"
    table = run_ablation(config, variants, runs, out, command=command, progress=False)
    lines = table.splitlines()
    assert lines[0] == "<!-- regenerate: edgedistill distill-ablation x -->"
    assert any(line.startswith("| teacher: ") for line in lines)
    assert any("student `both` | kl (0.5, T=2), attention (0.5)" in line for line in lines)
    assert any(line.startswith("| majority class") for line in lines)
    assert out.read_text() == table
    finished = (runs / "both" / "results.json").stat().st_mtime_ns
    again = run_ablation(config, variants, runs, out, command=command, progress=False)
    assert again == table and (runs / "both" / "results.json").stat().st_mtime_ns == finished


@pytest.mark.parametrize("dataset, head", [("sib200", "sequence-classification"),
                                           ("masakhaner", "token-classification")])
def test_unlabelled_raw_text_joins_the_task_without_gold_labels(teachers, dataset, head):
    from edgedistill.distill.data import build_data
    from edgedistill.distill.losses import IGNORE_INDEX
    from edgedistill.distill.run import load_run_teacher
    from edgedistill.tasks import load_task

    teacher = load_run_teacher(TeacherConfig(model=str(teachers[head])))
    spec = DataSpec(dataset, language="hau")
    task = load_task(spec)
    held_out = task.splits["dev"].examples[0]
    held_out_text = held_out.text if dataset == "sib200" else " ".join(held_out.tokens)
    raw = Path("../shared/data/raw/mafand/hau/train.hau").read_text(encoding="utf-8").splitlines()[:30]
    raw_file = Path(teachers[head]).parent / f"raw-{dataset}.txt"
    raw_file.write_text("\n".join([held_out_text, *raw]) + "\n", encoding="utf-8")
    config = DataConfig(task=spec, max_train_examples=20,
                        unlabelled=RawTextConfig(file=str(raw_file), max_sentences=None))
    data = build_data(config, teacher.tokenizer, head=head, max_length=32, seed=0, provenance={})

    assert len(data.features) == 20 + 30  # the dev sentence was dropped from the raw text
    assert [f["example_index"] for f in data.features] == list(range(50))
    added, task_rows = data.features[20:], data.features[:20]
    if dataset == "sib200":
        assert {f["labels"] for f in added} == {IGNORE_INDEX}
        assert all(f["labels"] != IGNORE_INDEX for f in task_rows)
        first = teacher.tokenizer.decode(added[0]["input_ids"], skip_special_tokens=True)
        assert first.startswith(raw[0][:10])
    else:
        assert {label for f in added for label in f["labels"]} == {IGNORE_INDEX}
        assert any(label != IGNORE_INDEX for f in task_rows for label in f["labels"])
    assert data.source.endswith(f"+ {raw_file}")


def test_unlabelled_raw_text_needs_a_task():
    from edgedistill.config import ConfigError

    with pytest.raises(ConfigError, match=r"\[data.unlabelled\] adds raw text to a task's training "
                                                 r"examples; it needs \[data.task\]"):
        DataConfig(raw=RawTextConfig(), unlabelled=RawTextConfig()).validate("data")
    with pytest.raises(ConfigError, match="data.unlabelled.splits: no split 'valid'"):
        DataConfig(task=DataSpec("sib200", language="hau"),
                   unlabelled=RawTextConfig(splits=["train", "valid"])).validate("data")
