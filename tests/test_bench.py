"""The benchmark harness: variant parsing, exact-length inputs, FLOPs, an interleaved run."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from edgedistill.benchmarks.flops import encoder_flops_per_token, forward_flops  # noqa: E402
from edgedistill.benchmarks.runner import BenchConfig, BenchError, run_benchmark  # noqa: E402
from edgedistill.benchmarks.variants import (  # noqa: E402
    VariantError,
    exact_length_ids,
    parse_variant,
)
from edgedistill.cli import main  # noqa: E402
from edgedistill.export.tiny_bundles import write_tiny_bundle  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory, fixture_texts):
    from edgedistill.fixtures import tiny_model

    root = tmp_path_factory.mktemp("bench")
    write_tiny_bundle(root / "bundle-a", "sequence-classification", fixture_texts)
    write_tiny_bundle(root / "bundle-b", "token-classification", fixture_texts, family="bert")
    tiny_model("bpe", "sequence-classification", texts=fixture_texts).save(root / "hf")
    return root


def test_variant_kinds_are_read_off_the_path(models, tmp_path):
    assert parse_variant(f"x={models / 'bundle-a'}").kind == "onnx"
    assert parse_variant(str(models / "hf")).kind == "pytorch"
    assert parse_variant(str(models / "hf")).name == "hf"
    assert parse_variant("teacher=e5-small").kind == "pytorch"
    with pytest.raises(VariantError, match="does not exist"):
        parse_variant(str(tmp_path / "nothing"))
    with pytest.raises(VariantError, match="neither a bundle"):
        parse_variant(str(tmp_path))


@pytest.mark.parametrize("bundle,front,back", [("bundle-a", [0], [2]), ("bundle-b", [2], [3])])
def test_inputs_have_exactly_the_asked_length(models, bundle, front, back):
    ids, mask = exact_length_ids(models / bundle / "tokenizer.json", "Ina son wannan", 48, 3)
    assert ids.shape == (3, 48) and mask.all()
    assert list(ids[0, : len(front)]) == front and list(ids[0, -len(back):]) == back
    assert (ids[0] == ids[2]).all()


def test_flops_by_hand():
    # e5-small at seq 128: per layer per token 4*384^2 + 2*384*1536 + 2*128*384 multiply-adds.
    per_layer = 4 * 384**2 + 2 * 384 * 1536 + 2 * 128 * 384
    assert encoder_flops_per_token(12, 384, 1536, 128) == 2 * 12 * per_layer
    arch = {"layers": 12, "hidden_size": 384, "intermediate_size": 1536}
    assert forward_flops(arch, 128, 2) == 2 * 12 * per_layer * 128 * 2
    assert forward_flops({}, 128, 1) is None


def test_flops_count_only_the_heads_a_pruned_model_kept():
    """A layer with 3 of 12 heads (head size 32) left: its attention is 96 wide, its FFN unchanged."""
    full = 4 * 384**2 + 2 * 384 * 1536 + 2 * 128 * 384
    pruned = 4 * 384 * 96 + 2 * 384 * 1536 + 2 * 128 * 96
    assert encoder_flops_per_token(2, 384, 1536, 128, 12, [12, 3]) == 2 * (full + pruned)


def test_encoder_shape_records_pruned_heads(tmp_path):
    import transformers

    from edgedistill.accounting import encoder_shape

    config = transformers.BertConfig(vocab_size=50, num_hidden_layers=3, hidden_size=64,
                                     num_attention_heads=4, intermediate_size=128)
    model = transformers.BertModel(config)
    assert "heads_per_layer" not in encoder_shape(model.config)
    model.prune_heads({1: [0, 2], 2: [3]})
    model.save_pretrained(tmp_path)  # JSON turns the layer numbers into strings
    assert encoder_shape(transformers.AutoConfig.from_pretrained(tmp_path))["heads_per_layer"] == [4, 2, 3]


def test_interleaved_run_gives_ratios_against_the_reference(models):
    specs = [parse_variant(f"a={models / 'bundle-a'}"), parse_variant(f"b={models / 'bundle-b'}"),
             parse_variant(f"torch={models / 'hf'}")]
    config = BenchConfig(seq_len=32, rounds=2, warmup=1, iterations=3, reference="b")
    seen = []
    result = run_benchmark(specs, config, progress=seen.append)
    assert len(seen) == 6 and seen[0].endswith(": a") and seen[3].endswith(": b")  # rotated
    summary = result.summary
    assert summary["b"]["speedup_vs_reference"] == 1.0
    assert summary["b"]["rss_ratio_vs_reference"] == 1.0
    for name in ("a", "torch"):
        s = summary[name]
        assert s["p50_ms"] > 0 and s["p50_ms"] <= s["p99_ms"]
        assert s["peak_rss_bytes"] > 10 * 2**20 and s["cold_start_s"] > 0 and s["size_bytes"] > 0
    assert summary["torch"]["parameters"]["total"] > summary["torch"]["parameters"]["non_embedding"]
    assert summary["torch"]["forward_gflops"] > 0


def test_cli_writes_json_markdown_and_plot(models, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["bench", f"a={models / 'bundle-a'}", str(models / "bundle-b"),
                                       "--rounds", "1", "--iterations", "2", "--warmup", "0",
                                       "--max-length", "16", "--runtime-only", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "bench.json").read_text())
    assert json.loads(result.stdout) == report  # --json prints what bench.json holds
    assert report["command"].startswith("edgedistill bench")
    assert set(report["summary"]) == {"a", "bundle-b"}
    assert "cpu_flags" in report["machine"]
    table = (out / "bench.md").read_text()
    assert "| a | onnx |" in table and "| bundle-b | onnx |" in table
    assert (out / "bench.png").stat().st_size > 1000
    np.testing.assert_equal(report["config"]["seq_len"], 16)


def test_runtime_only_refuses_pytorch_variants(models, tmp_path):
    result = CliRunner().invoke(main, ["bench", str(models / "hf"), "--runtime-only",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 2 and "bundles only" in result.output


def test_a_failing_variant_is_named(models, tmp_path):
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(models / "bundle-a", broken)
    (broken / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(BenchError, match="variant broken failed: BundleError"):
        run_benchmark([parse_variant(str(broken))], BenchConfig(rounds=1, iterations=1))
