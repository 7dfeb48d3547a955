"""The real teacher: multilingual-e5-small trimmed to a 40k Hausa vocabulary gives the same outputs."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow


def test_40k_hausa_vocabulary_matches_the_full_model(e5_teacher, data_dir):
    from edgedistill.compress.vocab import VocabTrimConfig, VocabularyTrimmer
    from edgedistill.shared_data import raw_sentences

    counted = raw_sentences("hau", split="train")
    held_out = raw_sentences("hau", split="dev")
    trimmed = copy.deepcopy(e5_teacher.model)  # the session's teacher must stay whole
    result = VocabularyTrimmer(VocabTrimConfig(target_size=40_000)).trim(
        trimmed, e5_teacher.tokenizer, counted, eval_texts=held_out)

    report = result.report.to_dict()
    assert report["parameters_before"]["total"] == 117_505_920
    assert report["parameters_after"]["total"] == 117_505_920 - (250_037 - 40_000) * 384
    assert report["details"]["kept_token_coverage"] == 1.0
    assert result.tokenizer.pad_token_id == 1 and len(result.tokenizer) == 40_000

    kept = set(result.kept.ids)
    covered_held_out = [t for t in held_out if set(e5_teacher.tokenizer(t)["input_ids"]) <= kept]
    assert len(covered_held_out) >= 0.9 * len(held_out)
    texts = counted[:16] + covered_held_out[:16]
    before = e5_teacher.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    after = result.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        full = e5_teacher.model(**before).last_hidden_state
        small = result.model(**after).last_hidden_state
    assert (full - small).abs().max().item() <= 1e-5
