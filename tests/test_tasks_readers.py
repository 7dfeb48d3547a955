"""Every reader on small slices of the real files, and the one-sentence failures for malformed lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgedistill.shared_data import DataNotFound
from edgedistill.tasks import readers
from edgedistill.tasks.readers import Columns, DataFormatError


def head(path: Path, lines: int) -> str:
    with path.open(encoding="utf-8") as handle:
        return "".join(next(handle) for _ in range(lines))


def conll_sentences(path: Path, count: int) -> str:
    """The first ``count`` blank-line-separated sentences of a CoNLL(-U) file."""
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    return "\n\n".join(blocks[:count]) + "\n\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def expect_error(call, *fragments: str) -> str:
    with pytest.raises(DataFormatError) as caught:
        call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- AfriSenti

def test_afrisenti_reads_tweets_with_emoji_and_quotes(data_dir):
    examples = readers.read_afrisenti(data_dir / "afrisenti" / "hau" / "train.tsv")
    assert len(examples) == 14172
    assert {e.label for e in examples} == {"negative", "neutral", "positive"}
    assert examples[0].line == 2 and examples[0].text.startswith("@user Da kudin")
    assert any('"' in e.text for e in examples)  # quotes are text, not CSV quoting
    assert any(ord(c) > 0xFFFF for e in examples for c in e.text)  # emoji survive


def test_afrisenti_wrong_column_count_names_file_and_line(data_dir, tmp_path):
    lines = head(data_dir / "afrisenti" / "swa" / "dev.tsv", 6).splitlines(keepends=True)
    lines[3] = lines[3].replace("\t", " ")  # a tweet that lost its tab
    path = write(tmp_path, "dev.tsv", "".join(lines))
    expect_error(lambda: readers.read_afrisenti(path), f"{path}, line 4: expected 2 tab-separated fields "
                 "(tweet, label), found 1")


def test_afrisenti_empty_label_and_missing_header(data_dir, tmp_path):
    lines = head(data_dir / "afrisenti" / "kin" / "dev.tsv", 4).splitlines(keepends=True)
    lines[2] = lines[2].split("\t")[0] + "\t\n"
    path = write(tmp_path, "dev.tsv", "".join(lines))
    expect_error(lambda: readers.read_afrisenti(path), "line 3", "non-empty label")
    headless = write(tmp_path, "headless.tsv", "".join(lines[1:2]))
    expect_error(lambda: readers.read_afrisenti(headless), "line 1", "header with a 'tweet' column")


def test_blank_line_in_the_middle_is_an_error_but_trailing_ones_are_fine(data_dir, tmp_path):
    text = head(data_dir / "afrisenti" / "yor" / "dev.tsv", 4)
    assert len(readers.read_afrisenti(write(tmp_path, "ok.tsv", text + "\n\n"))) == 3
    lines = text.splitlines(keepends=True)
    broken = write(tmp_path, "gap.tsv", "".join(lines[:2]) + "\n" + "".join(lines[2:]))
    expect_error(lambda: readers.read_afrisenti(broken), "line 3", "found an empty line")


def test_invalid_utf8_names_the_line(data_dir, tmp_path):
    good = head(data_dir / "afrisenti" / "ibo" / "dev.tsv", 3).encode("utf-8")
    path = write(tmp_path, "bad.tsv", good + b"caf\xe9 tweet\tpositive\n")
    expect_error(lambda: readers.read_afrisenti(path), "line 4: expected UTF-8 text, found byte 0xe9")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataNotFound, match="does not exist"):
        readers.read_afrisenti(tmp_path / "nope.tsv")


# ---------------------------------------------------------------- SIB-200 and labels.txt

def test_sib200_and_its_labels_file(data_dir):
    folder = data_dir / "sib200" / "yor_Latn"
    examples = readers.read_sib200(folder / "dev.tsv")
    labels = readers.read_labels_file(folder / "labels.txt")
    assert len(examples) == 99 and len(labels) == 7
    assert {e.label for e in examples} <= set(labels)


def test_sib200_extra_field_and_duplicate_label(data_dir, tmp_path):
    lines = head(data_dir / "sib200" / "hau_Latn" / "train.tsv", 5).splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + "\textra\n"
    path = write(tmp_path, "train.tsv", "".join(lines))
    expect_error(lambda: readers.read_sib200(path), "line 5: expected 3 tab-separated fields "
                 "(index_id, category, text), found 4")
    labels = write(tmp_path, "labels.txt", "travel\nsports\ntravel\n")
    expect_error(lambda: readers.read_labels_file(labels), "line 3: expected each label once, found 'travel'")


# ---------------------------------------------------------------- CoNLL NER

def test_masakhaner_sentences_and_tag_lines(data_dir, tmp_path):
    path = write(tmp_path, "train.txt", conll_sentences(data_dir / "masakhaner2" / "hau" / "train.txt", 3))
    sentences = readers.read_conll(path)
    assert len(sentences) == 3
    first = sentences[0]
    assert first.tokens[0] == "Olurukoba" and first.tags[0] == "B-PER" and first.lines[0] == 1
    assert first.tokens[-2:] == ("Kano", ".") and first.tags[-2:] == ("B-LOC", "O")
    assert sentences[1].lines[0] == len(first.tokens) + 2  # after the blank line


def test_masakhaner_line_without_tag(data_dir, tmp_path):
    lines = conll_sentences(data_dir / "masakhaner2" / "yor" / "dev.txt", 2).splitlines(keepends=True)
    lines[1] = lines[1].split(" ")[0] + "\n"
    path = write(tmp_path, "dev.txt", "".join(lines))
    expect_error(lambda: readers.read_conll(path), "line 2: expected a token and its tag", "found 1 fields")


def test_whole_masakhaner_file(data_dir):
    sentences = readers.read_conll(data_dir / "masakhaner2" / "swa" / "dev.txt")
    assert len(sentences) == 942
    assert all(len(s.tokens) == len(s.tags) == len(s.lines) for s in sentences)


# ---------------------------------------------------------------- CoNLL-U

def test_conllu_skips_comments_and_multiword_ranges(data_dir):
    sentences = readers.read_conllu(data_dir / "ud" / "UD_Yoruba-YTB" / "yo_ytb-ud-test.conllu")
    assert len(sentences) == 317
    assert sentences[0].tokens[:2] == ("Ní", "ìbẹ̀rẹ̀") and sentences[0].tags[:2] == ("ADP", "NOUN")
    assert sentences[0].lines[0] == 6  # after five comment lines
    assert all("_" not in s.tags for s in sentences)  # the 43 range lines are not words
    xpos = readers.read_conllu(data_dir / "ud" / "UD_Yoruba-YTB" / "yo_ytb-ud-test.conllu", "deprel")
    assert xpos[0].tags[0] == "case"


def test_conllu_malformed_lines(data_dir, tmp_path):
    text = conll_sentences(data_dir / "ud" / "UD_Yoruba-YTB" / "yo_ytb-ud-test.conllu", 1)
    lines = text.splitlines(keepends=True)
    short = lines.copy()
    short[6] = "\t".join(short[6].split("\t")[:8]) + "\n"
    path = write(tmp_path, "short.conllu", "".join(short))
    expect_error(lambda: readers.read_conllu(path),
                 "line 7: expected 10 tab-separated CoNLL-U fields, found 8")
    skipped = lines[:6] + lines[7:]
    path = write(tmp_path, "gap.conllu", "".join(skipped))
    expect_error(lambda: readers.read_conllu(path), "line 7: expected word id 2, found '3'")
    untagged = lines.copy()
    fields = untagged[5].split("\t")
    untagged[5] = "\t".join(fields[:3] + ["_"] + fields[4:])
    path = write(tmp_path, "untagged.conllu", "".join(untagged))
    expect_error(lambda: readers.read_conllu(path), "line 6: expected a tag in column 4 (upos), found '_'")


# ---------------------------------------------------------------- raw text

def test_raw_text_skips_blank_lines_and_honours_limit(data_dir, tmp_path):
    path = write(tmp_path, "raw.hau", head(data_dir / "raw" / "mafand" / "hau" / "dev.hau", 5) + "\n  \n")
    assert len(readers.read_raw_text(path)) == 5
    assert len(readers.read_raw_text(data_dir / "raw" / "mafand" / "kin" / "dev.kin", limit=7)) == 7
    bad = write(tmp_path, "bad.txt", b"fine\n\xff\xfe broken\n")
    expect_error(lambda: readers.read_raw_text(bad), "line 2: expected UTF-8 text")


# ---------------------------------------------------------------- CSV / TSV / JSONL with named columns

@pytest.fixture
def tweets(data_dir) -> list[tuple[str, str]]:
    rows = head(data_dir / "afrisenti" / "hau" / "dev.tsv", 6).splitlines()[1:]
    return [tuple(row.split("\t")) for row in rows]


def test_csv_named_columns_with_quoting(tweets, tmp_path):
    import csv

    path = tmp_path / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sentiment", "body"])
        for i, (text, label) in enumerate(tweets):
            writer.writerow([i, label, text + ', "quoted"\nsecond line'])
    examples = readers.rows_to_text_examples(readers.read_csv_rows(path), Columns("body", label="sentiment"),
                                             path)
    assert [e.label for e in examples] == [label for _, label in tweets]
    assert examples[0].text.endswith('"quoted"\nsecond line') and examples[1].line == 5


def test_csv_missing_column_and_short_row(tweets, tmp_path):
    path = write(tmp_path, "a.csv", "text,label\n" + f'"{tweets[0][0]}",{tweets[0][1]}\n' + "only one\n")
    with pytest.raises(DataFormatError, match="line 1: expected a header with a 'sentence' column"):
        list(readers.read_csv_rows(path, required=["sentence"]))
    expect_error(lambda: list(readers.read_csv_rows(path)), "line 3: expected 2 comma-separated fields")


def test_csv_stray_carriage_returns_are_read_as_spaces(tmp_path):
    """A carriage return inside a line made Python's csv module stop ("new-line character seen in
    unquoted field"); with newline='' it would end the row there instead. CRLF endings stay endings."""
    path = write(tmp_path, "cr.csv", b'text,label\r\nIna son\rka sosai,positive\r\n'
                                     b'"Habari\ryako",negative\r\nEse\r\r,neutral\r\nlast,neutral\r')
    assert list(readers.read_csv_rows(path)) == [
        (2, {"text": "Ina son ka sosai", "label": "positive"}),
        (3, {"text": "Habari yako", "label": "negative"}),
        (4, {"text": "Ese  ", "label": "neutral"}), (5, {"text": "last", "label": "neutral"})]


def test_tsv_named_columns(tweets, tmp_path):
    path = write(tmp_path, "a.tsv", "label\ttext\n" + "".join(f"{lab}\t{txt}\n" for txt, lab in tweets))
    examples = readers.rows_to_text_examples(readers.read_tsv_rows(path), Columns(), path)
    assert [(e.text, e.label) for e in examples] == tweets


def test_jsonl_text_pairs_tokens_and_errors(tweets, tmp_path):
    rows = [{"premise": t, "hypothesis": t[::-1], "label": lab} for t, lab in tweets]
    path = write(tmp_path, "pairs.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    examples = readers.rows_to_text_examples(readers.read_jsonl_rows(path),
                                             Columns("premise", "hypothesis"), path)
    assert examples[2].text_pair == tweets[2][0][::-1]
    scored = write(tmp_path, "sim.jsonl", '{"a": "x", "b": "y", "score": 0.5}\n{"a": "x", "b": "y", '
                                          '"score": "high"}\n')
    expect_error(lambda: readers.rows_to_pair_examples(readers.read_jsonl_rows(scored),
                                                       Columns("a", "b", "score"), scored),
                 "line 2: expected a number in column 'score', found 'high'")
    broken = write(tmp_path, "broken.jsonl", '{"text": "a", "label": "b"}\n{"text": "a", "label"\n')
    expect_error(lambda: list(readers.read_jsonl_rows(broken)), "line 2: expected one JSON object a line")
    tokens = write(tmp_path, "tok.jsonl", '{"tokens": ["Kano", "."], "tags": ["B-LOC"]}\n')
    expect_error(lambda: readers.rows_to_token_examples(readers.read_jsonl_rows(tokens), Columns(), tokens),
                 "line 1: expected as many tags as words (at least one), found 2 words and 1 tags")
    missing = write(tmp_path, "missing.jsonl", '{"tweet": "a", "label": "b"}\n')
    expect_error(lambda: readers.rows_to_text_examples(readers.read_jsonl_rows(missing), Columns(), missing),
                 "line 1: expected a column named 'text', found columns tweet, label")


# ---------------------------------------------------------------- Hugging Face datasets

def test_hf_dataset_from_disk_maps_class_labels_to_names(tweets, tmp_path):
    datasets = pytest.importorskip("datasets")
    names = ["negative", "neutral", "positive"]
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=names),
                                  "ner": datasets.Sequence(datasets.ClassLabel(names=["O", "B-LOC"]))})
    table = {"text": [t for t, _ in tweets], "label": [names.index(lab) for _, lab in tweets],
             "ner": [[0, 1]] * len(tweets)}
    dataset = datasets.Dataset.from_dict(table, features=features)
    datasets.DatasetDict({"train": dataset, "validation": dataset}).save_to_disk(str(tmp_path / "hf"))
    rows = list(readers.read_hf_rows(str(tmp_path / "hf"), "validation"))
    assert rows[0][0] == 1 and rows[0][1]["label"] == tweets[0][1] and rows[0][1]["ner"] == ["O", "B-LOC"]
    with pytest.raises(readers.DatasetLoadError, match="no split 'test'; its splits are train, validation"):
        list(readers.read_hf_rows(str(tmp_path / "hf"), "test"))
