"""The table of issue 16 puts every model beside its cell's baseline and says which is ahead."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def table(data_dir, tmp_path, monkeypatch):
    """shipping_table's records in tmp_path: baselines of two cells, a teacher and a student run of one."""
    import shipping_table as st
    from results_table import write_record

    baselines = {("sib200", "yor"): 0.70, ("sib200", "hau"): 0.80}
    teachers = {"sib200-yor": 0.75}  # sib200-hau has no teacher yet
    monkeypatch.setattr(st, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(st, "load_baseline_record", lambda dataset, language: {
        "baseline": {"kind": "tfidf-logreg"}, "test": {"macro_f1": baselines[(dataset, language)]},
        "model": {"bytes": 2_000_000}, "prediction": {"ms_per_text_median": 0.2}}
        if (dataset, language) in baselines else None)
    monkeypatch.setattr(st, "load_results", lambda runs: {
        cell: {"task": {"primary_metric": "macro_f1"}, "test": {"macro_f1": score}}
        for cell, score in teachers.items()})
    cell = st.Cell("sib200", "yor")
    teacher_row = {"cell": cell.name, "model": st.TEACHER, "metric": 0.75, "retention": 1.0,
                   "size_bytes": 470_000_000, "latency_ratio": 1.0, "rss_ratio": 1.0}
    student_rows = [{"cell": cell.name, "model": f"default {p}", "metric": m, "retention": m / 0.75,
                     "parameters": 1, "size_bytes": 20_000_000, "latency_ratio": 0.2, "rss_ratio": 0.2}
                    for p, m in (("FP32", 0.73), ("INT8", 0.69))]
    write_record(st.RECORDS, "default", cell, st.record_key("default", cell), [teacher_row, *student_rows])
    monkeypatch.setattr(st, "PAIRED_RECORDS", tmp_path / "paired")
    (tmp_path / "paired").mkdir()
    (tmp_path / "paired" / "sib200-yor.json").write_text(json.dumps({
        "scores": {"student INT8": 0.69, "teacher": 0.75, "baseline": 0.70},
        "differences": {"student INT8 - baseline": {"interval_5_95": [-0.05, 0.03]},
                        "teacher - baseline": {"interval_5_95": [0.01, 0.09]}}}))
    cells = [cell, st.Cell("sib200", "hau")]
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{st.README_START}\nold table\n{st.README_END}\n\nafter\n")
    st.write_table(cells, ["default"], tmp_path / "runs", tmp_path / "teachers", out=tmp_path, readme=readme)
    summary = json.loads((tmp_path / "shipping_table.json").read_text())
    return (tmp_path / "shipping_table.md").read_text(), summary


def test_each_model_is_shown_ahead_of_or_behind_the_baseline(table):
    text, summary = table
    assert "| sib200-yor | baseline: tfidf-logreg | 0.7000 |  | - | 2.0 | 0.200 ms/text | - |" in text
    assert "| sib200-yor | default FP32 | 0.7300 | ahead by 3.0 | 97.3 |" in text
    assert ("| sib200-yor | default INT8 | 0.6900 | behind by 1.0 (within noise, 90% interval -5.0 to +3.0) "
            "| 92.0 |") in text
    assert ("| sib200-yor | teacher FP32 (PyTorch) | 0.7500 | ahead by 5.0 (90% interval +1.0 to +9.0) "
            "| 100.0 |") in text
    assert "| default INT8 | 1 | 0 of 1 | 0 of 1 | 92.0 |" in text
    assert "| teacher FP32 (PyTorch) | 1 | 1 of 1 | 0 of 1 | 100.0 |" in text
    first = [row["model"] for row in summary["rows"]][:2]
    assert first == ["baseline: tfidf-logreg", "teacher FP32 (PyTorch)"]


def test_a_partial_table_names_what_is_missing_and_why(table):
    text, summary = table
    assert "| sib200-hau | baseline: tfidf-logreg | 0.8000 |" in text
    assert "teacher sib200-hau" in summary["missing"]
    assert "default-sib200-hau (waiting for its teacher)" in summary["missing"]
    assert "default-sib200-yor" not in " ".join(summary["missing"])


def test_the_readme_table_is_regenerated_between_its_markers(table, tmp_path):
    text = (tmp_path / "README.md").read_text()
    assert "old table" not in text and text.startswith("# x\n") and text.endswith("after\n")
    assert ("| sib200-yor | 0.700 tfidf-logreg | 0.750 | 0.690 | behind by 1.0 (within noise, 90% interval "
            "-5.0 to +3.0) | 20.0 | 5.0x |") in text
    assert "| sib200-hau | 0.800 tfidf-logreg | - | - |  | - | - |" in text


def test_an_interval_counts_only_for_the_scores_it_was_measured_on(tmp_path, monkeypatch):
    import shipping_table as st

    monkeypatch.setattr(st, "PAIRED_RECORDS", tmp_path)
    (tmp_path / "sib200-yor.json").write_text(json.dumps({
        "scores": {"student INT8": 0.69, "teacher": 0.75, "baseline": 0.70},
        "differences": {"student INT8 - baseline": {"interval_5_95": [-0.05, 0.03]},
                        "teacher - baseline": {"interval_5_95": [0.01, 0.09]}}}))
    cell = st.Cell("sib200", "yor")
    assert st.paired_intervals(cell, 0.70) == {("default INT8", 0.69): [-0.05, 0.03],
                                               (st.TEACHER, 0.75): [0.01, 0.09]}
    assert st.paired_intervals(cell, 0.71) == {}  # another baseline: the record is of other predictions
    assert st.paired_intervals(st.Cell("sib200", "hau"), 0.70) == {}
