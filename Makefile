# Two commands for a fresh clone:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SAMPLE := samples/digits_fusion_cnn.pt
PYTEST_ARGS ?=

.PHONY: install test test-all demo bench clean

install: $(STAMP)

# Re-runs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[export,train,dev]'
	touch $(STAMP)

$(SAMPLE): | $(STAMP)
	$(BIN)/python samples/make_samples.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

ONNX := samples/digits_fusion_cnn.onnx

demo: $(STAMP) $(SAMPLE)
	@echo "== 1/5 the sample model (trained by samples/make_samples.py)"
	@$(BIN)/edgecv info $(SAMPLE) --json | $(BIN)/python -c "import json,sys; d=json.load(sys.stdin); print(f\"{d['arch']} on {d['meta']['data']}: validation accuracy {d['meta']['val_acc']:.4f} (epoch {d['meta']['epoch']})\")"
	@echo "== 2/5 export to ONNX (dynamic batch, validated against torch)"
	$(BIN)/edgecv export $(SAMPLE) -o $(ONNX)
	@echo "== 3/5 classify the sample images on ONNX Runtime (no torch on this side)"
	$(BIN)/edgecv run $(ONNX) samples/digits samples/photos --topk 3
	@echo "== 4/5 verify every backend against the checkpoint"
	$(BIN)/edgecv verify $(SAMPLE) $(ONNX)
	@echo "== 5/5 a short video made from the sample photos, headless"
	$(BIN)/python samples/make_video.py samples/sample_video.mkv
	$(BIN)/edgecv run $(ONNX) samples/sample_video.mkv --no-show --record samples/sample_video_annotated.mkv

bench: $(STAMP) $(SAMPLE)
	$(BIN)/python benchmarks/deploy_bench.py
	$(BIN)/python benchmarks/odconv_latency.py

clean:
	rm -rf $(VENV) build *.egg-info
