"""The browser demo (web_demo/) in a real headless Chromium gives what the Python runtime gives.

Two tiny bundles (tests/bundles.py, max_length 32, so long sentences are truncated or windowed) and
the real multilingual-e5 tokenizer.json are served by the demo's own server; the page tokenizes,
classifies and tags 100 real sentences (AfriSenti, SIB-200, MasakhaNER 2.0 in five languages,
Yoruba with combining accents), and every answer is held against runtime/predictor.py's. Skips,
saying why, where Chromium or the page's onnxruntime-web (`make web-demo`) is missing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import unicodedata
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from edgedistill.cli import main
from edgedistill.headless import HeadlessChromium, find_chromium
from edgedistill.tasks.readers import read_afrisenti, read_conll, read_sib200
from edgedistill.web_demo import ORT_WEB, WEB_DIR, bundle_files, make_server, server_url

LANGUAGES = ("hau", "ibo", "kin", "swa", "yor")
TOLERANCE = 1e-4
# Where the page's tokenizer could go wrong: composed and uncomposed accents (the normalizer drops a
# second accent of an uncomposed letter), removed control characters, ligatures, runs of spaces,
# added tokens in the text, emoji, other scripts, the empty string.
ODD_TEXTS = ["o\u0323\u0300 ọ̀ Ẹ̀ a\u0301b", "x\x01ab", "\x01ab", "ﬁ ①  two   spaces", "😂🇳🇬 ẹ̀ 👩‍👩‍👧",
             "", "   lead", "trail  ", "a<mask>b", " <mask> x", "<s>hi</s>", "Ａｂｃ　ｘ",
             "tab\tnew\nline\r\n",
             "\u00a0nbsp\u2009thin \u200b\u200d", "क्षि नमस्ते 中文テスト한국어 مرحبا", "e\u0301\u0301\u0301"]


def real_sentences(data_dir, per_language: int = 5) -> list[str]:
    """Per language: AfriSenti tweets, SIB-200 sentences and twice as many MasakhaNER sentences."""
    texts = []
    for lang in LANGUAGES:
        sib = "swh" if lang == "swa" else lang
        texts += [e.text for e in read_afrisenti(data_dir / "afrisenti" / lang / "dev.tsv")[:per_language]]
        texts += [e.text for e in read_sib200(data_dir / "sib200" / f"{sib}_Latn" / "dev.tsv")[:per_language]]
        ner = read_conll(data_dir / "masakhaner2" / lang / "dev.txt")[: 2 * per_language]
        texts += [" ".join(e.tokens) for e in ner]
    return texts


@pytest.fixture(scope="module")
def sentences(data_dir) -> list[str]:
    texts = real_sentences(data_dir)
    assert len(texts) >= 50
    assert sum(any(unicodedata.combining(ch) for ch in text) for text in texts) >= 10  # Yoruba accents
    return texts


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, fixture_texts):
    pytest.importorskip("torch", reason="the tiny bundles are exported with torch")
    from edgedistill.export.tiny_bundles import write_tiny_bundle

    root = tmp_path_factory.mktemp("web-bundles")
    for head in ("sequence-classification", "token-classification"):
        write_tiny_bundle(root / head, head, fixture_texts)
    return root


def _skip_without_browser() -> None:
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (make test installs Debian's chromium where apt-get works)")
    if not (WEB_DIR / ORT_WEB).is_file():
        pytest.skip(f"onnxruntime-web is not installed in {WEB_DIR / 'node_modules'} (make web-demo)")


@pytest.fixture(scope="module")
def site(bundles):
    """The demo's server with both bundles and the e5 tokenizer mounted; yields its URL."""
    _skip_without_browser()
    from edgedistill.teachers import e5_small

    mounts = {f"/bundles/{head.name}/": bundle_files(head) for head in bundles.iterdir()}
    with contextlib.suppress(e5_small.TeacherPackageMissing):
        mounts["/e5/"] = {"tokenizer.json": e5_small.tokenizer_path()}
    server = make_server(mounts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server_url(server)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(site):
    with HeadlessChromium() as chromium:
        yield chromium


def open_bundle(browser, site, head: str) -> None:
    browser.open(f"{site}?bundle=/bundles/{head}/")
    browser.evaluate("window.demo.ready.then(() => true)")


def python_encoding(tokenizer, text: str) -> dict:
    encoding = tokenizer.encode(text, add_special_tokens=False)
    return {"ids": encoding.ids, "offsets": [list(o) for o in encoding.offsets], "words": encoding.word_ids}


@pytest.mark.parametrize("which", ["e5", "bundle"])
def test_tokenizer_matches_python(browser, site, bundles, sentences, which):
    """Ids, code-point offsets and word ids equal tokenizers' for the real XLM-R/e5 tokenizer.json
    (Precompiled charsmap, Metaspace) and for a bundle's (with Strip and a normalized <mask>)."""
    from tokenizers import Tokenizer

    from edgedistill.teachers import e5_small

    if which == "e5":
        try:
            path, url = e5_small.tokenizer_path(), f"{site}e5/tokenizer.json"
        except e5_small.TeacherPackageMissing as exc:
            pytest.skip(str(exc))
    else:
        path, url = bundles / "token-classification" / "tokenizer.json", \
            f"{site}bundles/token-classification/tokenizer.json"
    texts = sentences + ["query: " + t for t in sentences] + ODD_TEXTS
    browser.open(site)
    got = browser.evaluate(f"window.demo.tokenize({json.dumps(url)}, {json.dumps(texts)})")
    tokenizer = Tokenizer.from_file(str(path))
    for text, encoding in zip(texts, got, strict=True):
        assert encoding == python_encoding(tokenizer, text), text


def test_classification_matches_the_runtime(browser, site, bundles, sentences):
    from edgedistill.runtime import Predictor

    open_bundle(browser, site, "sequence-classification")
    got = browser.evaluate(f"window.demo.runTexts({json.dumps(sentences)})")
    predictor = Predictor(bundles / "sequence-classification", batch_size=1, threads=1)
    truncated = 0
    for text, page in zip(sentences, got, strict=True):
        [encoding] = predictor._encode([text])
        truncated += len(encoding.ids) > predictor.manifest.max_length - predictor.specials
        assert page["result"]["ids"] == predictor._truncated(encoding).ids, text
        expected = predictor.classify(text)
        assert page["result"]["label"] == expected.label, text
        for label, probability in expected.probabilities.items():
            assert page["result"]["probabilities"][label] == pytest.approx(probability, abs=TOLERANCE)
        assert page["ms"] > 0
    assert truncated >= 10  # the page truncates as the runtime does
    rows = browser.evaluate("document.querySelectorAll('#results .row').length")
    assert rows == len(sentences)


def test_entities_match_the_runtime(browser, site, bundles, sentences, tmp_path):
    from edgedistill.runtime import Predictor

    open_bundle(browser, site, "token-classification")
    got = browser.evaluate(f"window.demo.runTexts({json.dumps(sentences)})")
    predictor = Predictor(bundles / "token-classification", batch_size=1, threads=1)
    windowed = accented = 0
    for text, page in zip(sentences, got, strict=True):
        expected = [e.to_dict() for e in predictor.tag(text)]
        spans = [(e["label"], e["start"], e["end"], e["text"]) for e in expected]
        assert [(e["label"], e["start"], e["end"], e["text"]) for e in page["result"]] == spans, text
        for mine, theirs in zip(page["result"], expected, strict=True):
            assert mine["score"] == pytest.approx(theirs["score"], abs=TOLERANCE)
        windowed += len(predictor._windows(predictor._encode([text])[0])) > 1
        accented += any(unicodedata.combining(ch) for e in expected for ch in e["text"])
    assert windowed >= 10 and accented >= 3  # long sentences windowed, entities ending in accents
    shot = tmp_path / "page.png"
    shot.write_bytes(browser.screenshot())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_unicode_tables_match_python(browser, site):
    """The characters the page trims entity spans by are Python's isspace() and combining()."""
    browser.open(site)
    found = browser.evaluate("""import('./unicode.js').then(({isSpace, isCombining}) => {
        const space = [], combining = [];
        for (let cp = 0; cp < 0x110000; cp++) {
          if (isSpace(cp)) space.push(cp);
          if (isCombining(cp)) combining.push(cp);
        }
        return {space, combining};
      })""")
    every = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    assert found["space"] == [cp for cp in every if chr(cp).isspace()]
    assert found["combining"] == [cp for cp in every if unicodedata.combining(chr(cp))]


def test_the_page_refuses_a_changed_file(browser, bundles, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(bundles / "sequence-classification", changed)
    with open(changed / "tokenizer.json", "a") as handle:
        handle.write(" ")
    server = make_server({"/bundle/": bundle_files(changed)})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.open(server_url(server))
        status = browser.evaluate("window.demo.ready.then(() => 'loaded', () => "
                                  "document.getElementById('status').textContent)")
    finally:
        server.shutdown()
        server.server_close()
    assert status == ("Error: tokenizer.json does not match its SHA-256 in the manifest (the file was "
                      "changed or truncated)")


# ---------------------------------------------------------------- the serve-demo command

def test_serve_demo_refuses_what_the_page_cannot_load(tmp_path, bundles):
    runner = CliRunner()
    result = runner.invoke(main, ["serve-demo", str(tmp_path / "absent")])
    assert result.exit_code == 1 and "is not a directory" in result.output
    result = runner.invoke(main, ["serve-demo", str(tmp_path)])
    assert result.exit_code == 1 and "has no edgedistill.json" in result.output
    embedding = tmp_path / "embedding"
    shutil.copytree(bundles / "sequence-classification", embedding)
    manifest = json.loads((embedding / "edgedistill.json").read_text())
    (embedding / "edgedistill.json").write_text(json.dumps({**manifest, "task": "embedding"}))
    result = runner.invoke(main, ["serve-demo", str(embedding)])
    assert result.exit_code == 1 and "browser demo shows sequence-classification" in result.output
    assert "Traceback" not in result.output


def test_serve_demo_serves_the_bundle_without_torch_or_onnxruntime(bundles, tmp_path):
    """The command needs neither (they are made unimportable) and serves only the bundle's files."""
    if not (WEB_DIR / ORT_WEB).is_file():
        pytest.skip(f"onnxruntime-web is not installed in {WEB_DIR / 'node_modules'} (make web-demo)")
    code = ("import sys; sys.modules.update(torch=None, onnxruntime=None, tokenizers=None); "
            "from edgedistill.cli import main; main()")
    bundle = tmp_path / "bundle"
    shutil.copytree(bundles / "token-classification", bundle)
    (bundle / "notes.txt").write_text("not listed in the manifest")
    process = subprocess.Popen([sys.executable, "-c", code, "serve-demo", str(bundle), "--port", "0",
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.poll() is not None else "no output"
        url = json.loads(line)["url"]
        with urllib.request.urlopen(url + "bundle/edgedistill.json") as response:
            assert json.loads(response.read())["task"] == "token-classification"
        wasm = "node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm"
        with urllib.request.urlopen(url + wasm) as response:
            assert response.headers["Content-Type"] == "application/wasm"
        with urllib.request.urlopen(url) as response:
            assert b"demo.js" in response.read()
        for outside in ("bundle/notes.txt", "bundle/../bundle/notes.txt", "bundle/%2e%2e/index.html"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + outside)
            assert refused.value.code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)
