# Two commands for a fresh clone:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SAMPLE := samples/digits_fusion_cnn.pt
LOCK := requirements.lock
# uv installs exactly what the lock pins; its own version is pinned there too (extra `dev`).
UV_VERSION = $(shell sed -n 's/^uv==\([^ ;]*\).*/\1/p' $(LOCK))
UV := $(BIN)/uv
PYTEST_ARGS ?=
# Let Python cache compiled bytecode in the venv even where the environment says not to (this machine
# and CI set PYTHONDONTWRITEBYTECODE=1, and uv installs no .pyc): without the cache every process
# compiles torch again, `import torch, torchvision, onnx, onnxruntime` took 16.5 s against 5.8 s
# with it, and the suite starts a dozen Python processes.
unexport PYTHONDONTWRITEBYTECODE
# pytest-xdist is installed, but on 2 cores `-n 2` ran the suite slower (725 s against 563 s
# serial: twice the CPU time, as ONNX Runtime's and torch's own thread pools already use both
# cores).  Try it on bigger machines: make test XDIST="-n 4".
XDIST ?=
# Tests whose numbers depend on the CPU's float kernels carry the marker `float_kernels`; on an
# AVX-512 machine `make test` runs them once more on the AVX2 kernels (about a minute), so every
# machine also guards the AVX2-only case.

.PHONY: install lock lint docs test test-avx2 test-all demo bench clean

install: $(STAMP)

# Re-runs only when the lock or pyproject.toml changes.
$(STAMP): $(LOCK) pyproject.toml
	$(PY) -m venv $(VENV)
	@# uv is on the main index: extra indexes a machine's pip.conf may name (and warn about) are not asked
	PIP_EXTRA_INDEX_URL=" " $(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync -q --python $(BIN)/python $(LOCK)
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# Regenerate the lock from pyproject.toml's ranges (and its [tool.uv] constraints), for every
# platform and Python >= 3.10 at once; then `make install` syncs the venv to it.
lock:
	test -x $(UV) || { $(PY) -m venv $(VENV) && $(BIN)/python -m pip install -q uv; }
	$(UV) pip compile -q pyproject.toml --extra export --extra train --extra dev \
		--universal --python-version 3.10 -o $(LOCK)

$(SAMPLE): | $(STAMP)
	$(BIN)/python samples/make_samples.py

# import-linter reads packages from one folder tree, and edgecv's sub-packages live in three
# (toolkit/, runtimes/, exporters/): check a copy laid out as the installed package is.
IMPORT_TREE := $(VENV)/import-tree
lint: $(STAMP)
	@rm -rf $(IMPORT_TREE) && mkdir -p $(IMPORT_TREE)
	@cp -r toolkit $(IMPORT_TREE)/edgecv && cp -r runtimes $(IMPORT_TREE)/edgecv/runtimes \
		&& cp -r exporters $(IMPORT_TREE)/edgecv/exporters
	cd $(IMPORT_TREE) && PYTHONPATH=. $(CURDIR)/$(BIN)/lint-imports --config $(CURDIR)/pyproject.toml --no-cache

# The docs site (mkdocs-material; the API reference read from the docstrings by mkdocstrings, from a
# copy of the source laid out as the installed package, as for lint) in build/site.  --strict: a
# broken link or reference fails the build.  `make docs-serve` previews it on localhost:8000.
DOCS_SRC := build/docs-src
docs: $(STAMP)
	@rm -rf $(DOCS_SRC) && mkdir -p $(DOCS_SRC)
	@cp -r toolkit $(DOCS_SRC)/edgecv && cp -r runtimes $(DOCS_SRC)/edgecv/runtimes \
		&& cp -r exporters $(DOCS_SRC)/edgecv/exporters
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: docs
	$(BIN)/mkdocs serve

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "not slow" $(XDIST) $(PYTEST_ARGS)
	@if grep -q avx512f /proc/cpuinfo 2>/dev/null; then $(MAKE) --no-print-directory test-avx2; fi

# The float-sensitive tests on torch's and OpenBLAS's AVX2 kernels (what an AVX2-only CPU runs).
test-avx2: $(STAMP)
	ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell \
		$(BIN)/python -m pytest -q -m "float_kernels and not slow" $(XDIST) $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) $(PYTEST_ARGS)

ONNX := samples/digits_fusion_cnn.onnx

DEMO := demo-out
INT8 := $(DEMO)/digits_fusion_cnn.int8.onnx
demo: $(STAMP) $(SAMPLE)
	@mkdir -p $(DEMO)
	@echo "== 1/8 the sample model (trained by samples/make_samples.py)"
	@$(BIN)/edgecv info $(SAMPLE) --json | $(BIN)/python -c "import json,sys; d=json.load(sys.stdin); print(f\"{d['arch']} on {d['meta']['data']}: validation accuracy {d['meta']['val_acc']:.4f} (epoch {d['meta']['epoch']})\")"
	@echo "== 2/8 export to ONNX (dynamic batch, validated against torch)"
	$(BIN)/edgecv export $(SAMPLE) -o $(ONNX)
	@echo "== 3/8 INT8 from that ONNX (512 scikit-learn digits: 2/3 calibrate, 1/3 check; accuracy held, speed measured)"
	$(BIN)/edgecv export $(ONNX) --precision int8 --calib digits -o $(INT8)
	@echo "== 4/8 verify every backend and precision against the checkpoint"
	$(BIN)/edgecv verify $(SAMPLE) $(ONNX) $(INT8) --report $(DEMO)/verify.md
	@echo "== 5/8 accuracy on all 1,797 scikit-learn digits per backend (80% of them were training data)"
	$(BIN)/edgecv eval $(SAMPLE) $(ONNX) $(INT8) digits --plot $(DEMO)/confusion.png --no-per-class
	@echo "== 6/8 model-only speed of every form side by side: torch eager, ONNX fp32, INT8, each against the machine's floor"
	$(BIN)/edgecv bench $(SAMPLE) $(INT8) --batch-sizes 1,32 --seconds 2 --data digits --plot $(DEMO)/bench.png
	@echo "== 7/8 classify the sample digit images on ONNX Runtime (no torch on this side)"
	$(BIN)/edgecv run $(ONNX) samples/digits --topk 3 --csv $(DEMO)/predictions.csv
	@echo "== 8/8 a video of the sample digits, headless (the camera's stand-in): a line each time the answer changes"
	$(BIN)/python samples/make_video.py $(DEMO)/sample_video.mkv
	$(BIN)/edgecv run $(ONNX) $(DEMO)/sample_video.mkv --no-show --record $(DEMO)/sample_video_annotated.mkv \
		--csv $(DEMO)/video_frames.csv
	@echo "== outputs: $(ONNX), $(INT8), $(DEMO)/verify.md, $(DEMO)/confusion-*.png, $(DEMO)/bench.png, $(DEMO)/predictions.csv, $(DEMO)/sample_video_annotated.mkv, $(DEMO)/video_frames.csv"

# The standard set (sample, resnet18, mobilenet_v3_small, odconv_resnet18, swin_t, vit_b_16) through
# `edgecv bench`, written to BENCHMARKS.md with the commands and the machine (~15 min on 2 cores).
bench: $(STAMP) $(SAMPLE)
	$(BIN)/python benchmarks/standard_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
