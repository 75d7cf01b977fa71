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

# Installs are quiet: uv's output (about 125 lines) goes to $(INSTALL_LOG), which is printed only if the install fails.
INSTALL_LOG := $(VENV)/install.log
QUIETLY = > $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); echo "error: install failed (log: $(INSTALL_LOG))" >&2; exit 1; }

$(BIN)/uv:
	@echo "creating $(VENV) ..."
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --disable-pip-version-check "uv==0.13.9" $(QUIETLY)

$(CORE_STAMP): | $(BIN)/uv
	@echo "installing finefin and its pinned dependencies into $(VENV) (log: $(INSTALL_LOG)) ..."
	@$(BIN)/uv pip install --python $(BIN)/python -c constraints.txt -e . $(QUIETLY)
	@rm -f $(VENV)/.installed-core-*; touch $@

$(TEST_STAMP): | $(BIN)/uv
	@echo "installing finefin with its dev, snowflake and airflow extras into $(VENV) (log: $(INSTALL_LOG)) ..."
	@$(BIN)/uv pip install --python $(BIN)/python -c constraints.txt -e ".[dev,snowflake,airflow]" $(QUIETLY)
	@rm -f $(VENV)/.installed-*; touch $@ $(CORE_STAMP)

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
