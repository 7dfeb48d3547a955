"""The Android demo's plain-Java core (android_demo/core), compiled with javac and run under JUnit 4.

The core is the app minus Android and ONNX Runtime: manifest, hashes, model choice, logits to labels
and entities. Its JUnit tests compare it with the Python runtime through golden files (logits of a
tiny bundle on real sentences, and the runtime's answers): the committed copies, which the Gradle
build reads too, and copies generated here from the runtime as it is today.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from android_bundles import ROOT, android_bundles, android_export_unavailable, load_demo_script

CORE = ROOT / "android_demo" / "core"
GOLDEN = CORE / "src" / "test" / "resources" / "golden"
JUNIT_JARS = ("/usr/share/java/junit4.jar", "/usr/share/java/hamcrest-core.jar")
PACKAGE = "org.edgedistill.demo.core"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"no JDK here ({name} is not on PATH), so the Android core's JVM tests cannot run; "
                    f"apt-get install default-jdk-headless junit4")
    return found


@pytest.fixture(scope="module")
def jvm(tmp_path_factory) -> dict:
    """The core and its tests compiled for Java 8 (what Android's API 24 offers), plus a classpath."""
    javac, java = _tool("javac"), _tool("java")
    missing = [jar for jar in JUNIT_JARS if not Path(jar).is_file()]
    if missing:
        pytest.skip(f"JUnit 4 is not installed ({', '.join(missing)} missing): apt-get install junit4 "
                    f"(make test does this where apt-get is available)")
    classes = tmp_path_factory.mktemp("android-core-classes")
    sources = sorted(str(p) for p in (CORE / "src").rglob("*.java"))
    classpath = ":".join(JUNIT_JARS)
    result = subprocess.run([javac, "--release", "8", "-encoding", "UTF-8", "-Xlint:all,-options", "-Werror",
                             "-d", str(classes), "-cp", classpath, *sources], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    tests = sorted(f"{PACKAGE}.{p.stem}" for p in (CORE / "src" / "test" / "java").rglob("*Test.java"))
    return {"java": java, "classpath": f"{classes}:{CORE / 'src' / 'test' / 'resources'}:{classpath}",
            "tests": tests}


def run_junit(jvm: dict, tests: list[str], golden_dir: Path | None = None) -> str:
    flags = [f"-Dedgedistill.golden={golden_dir}"] if golden_dir else []
    command = [jvm["java"], *flags, "-cp", jvm["classpath"], "org.junit.runner.JUnitCore", *tests]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "OK (" in result.stdout
    return result.stdout


def test_core_unit_tests_pass(jvm):
    out = run_junit(jvm, jvm["tests"])
    ran = int(out.rsplit("OK (", 1)[1].split()[0])
    assert ran >= 30, out


def test_core_matches_the_python_runtime_as_it_is_today(jvm, data_dir):
    """Fresh golden files from the current runtime (on the Android-exported bundles where the export
    stage can build them), and the Java core must agree with them."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed, so no tiny bundle can be built to regenerate the golden files")
    make_golden = load_demo_script("make_golden")
    with tempfile.TemporaryDirectory() as scratch:
        bundles = None if android_export_unavailable() else android_bundles()
        written = make_golden.write_golden(Path(scratch) / "golden", bundles)
        assert len(written) == 2
        run_junit(jvm, [f"{PACKAGE}.GoldenClassificationTest", f"{PACKAGE}.GoldenEntitiesTest"],
                  Path(scratch) / "golden")


def test_core_stays_free_of_android_and_onnxruntime():
    """The tested core must compile on a plain JDK: no Android, no ONNX Runtime, no Java 9+ APIs
    (javac --release 8 above checks the last)."""
    for path in (CORE / "src" / "main").rglob("*.java"):
        text = path.read_text(encoding="utf-8")
        for banned in ("import android.", "import ai.onnxruntime", "import androidx."):
            assert banned not in text, f"{path.name} imports {banned}"


def test_committed_golden_files_are_small_and_point_at_real_data(data_dir):
    """The goldens quote a handful of real sentences; each names the data line it came from."""
    for path in GOLDEN.glob("*.json"):
        assert path.stat().st_size < 100_000, f"{path.name} is too large to commit"
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            source, line = case["source"].rsplit(":", 1)
            lines = (data_dir / source).read_text(encoding="utf-8").splitlines()[int(line) - 1:]
            if source.startswith("afrisenti"):
                assert lines[0].split("\t")[0] == case["text"], case["source"]
            else:
                words = [row.rsplit(" ", 1)[0] for row in lines[: len(case["text"].split(" "))]]
                assert " ".join(words) == case["text"], case["source"]
