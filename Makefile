# Two entry points on a fresh machine: `make demo` and `make test`. Both create .venv and install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The install stamp changes whenever the dependency spec changes, so re-running is instant when nothing moved.
DEPS_HASH := $(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
CORE_STAMP := $(VENV)/.installed-core-$(DEPS_HASH)
TEST_STAMP := $(VENV)/.installed-test-$(DEPS_HASH)

.PHONY: demo test lint bench install install-test clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv==0.13.9"

$(CORE_STAMP): | $(BIN)/uv
	$(BIN)/uv pip install --python $(BIN)/python -c constraints.txt -e .
	rm -f $(VENV)/.installed-core-*; touch $@

$(TEST_STAMP): | $(BIN)/uv
	$(BIN)/uv pip install --python $(BIN)/python -c constraints.txt -e ".[dev,snowflake,airflow]"
	rm -f $(VENV)/.installed-*; touch $@ $(CORE_STAMP)

install: $(CORE_STAMP)
install-test: $(TEST_STAMP)

demo: $(CORE_STAMP)
	$(BIN)/finefin demo

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The code is wrapped by hand at 120 columns (pyproject [tool.ruff]); ruff's formatter is not used.
lint: $(TEST_STAMP)
	$(BIN)/ruff check .

bench: $(TEST_STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .finefin dbt/target dbt/logs .pytest_cache .ruff_cache
