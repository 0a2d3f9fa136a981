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

demo: $(STAMP) $(SAMPLE)
	@echo "== sample model"
	$(BIN)/edgecv info $(SAMPLE) --json | $(BIN)/python -c "import json,sys; d=json.load(sys.stdin); print(f\"{d['arch']} on {d['meta']['data']}: validation accuracy {d['meta']['val_acc']:.4f} (epoch {d['meta']['epoch']})\")"

clean:
	rm -rf $(VENV) build *.egg-info
