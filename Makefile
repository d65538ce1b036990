# lambda-tuner: the two commands a fresh machine needs.
#
#   make demo   create/refresh .venv (Python 3.11) and run the demo against the simulated account
#   make test   the full local gate CI runs (.ci/run): lint, types, template lint, build, tests
#
# Other targets (for development): venv, sam-venv, chromium, lint, typecheck, validate, build, pytest,
# measure, clean. Every recipe fails on the first error.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# The gate's steps run in the order written, even under `make -j`.
.NOTPARALLEL:

PYTHON311 ?= python3.11
SAM_CLI_VERSION := 1.170.0
VENV := .venv
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
# pytest-xdist workers; the suite's servers bind port 0 and share no files, so it runs in parallel.
PYTEST_ARGS ?= -n 2

export SAM_CLI_TELEMETRY := 0
export DEBIAN_FRONTEND := noninteractive

# The venv is rebuilt when any requirements file (or pyproject's dependencies) changes: the stamp file's
# name carries their hash.
REQ_FILES := requirements.txt requirements-lean.txt requirements-dev.txt pyproject.toml
REQ_HASH := $(shell cat $(REQ_FILES) | sha256sum | cut -c1-16)
VENV_STAMP := $(VENV)/.installed-$(REQ_HASH)
SAM_STAMP := $(SAM_VENV)/.installed-aws-sam-cli-$(SAM_CLI_VERSION)

# The functions run on python3.12: `sam build` (no Docker) needs a python3.12 on PATH to compile their
# bytecode. Use one already on PATH, else pyenv's newest 3.12.
PY312_DIR := $(shell \
	if python3.12 -c '' >/dev/null 2>&1; then dirname "$$(python3.12 -c 'import sys; print(sys.executable)')"; \
	else for d in $$(ls -d "$$(pyenv root 2>/dev/null)"/versions/3.12*/bin 2>/dev/null | sort -rV); do \
	  if [ -x "$$d/python3.12" ]; then echo "$$d"; break; fi; done; fi)

.PHONY: help demo test venv sam-venv chromium lint typecheck validate build pytest measure clean

help:
	@echo "make demo   - run the demo (creates .venv with Python 3.11 first)"
	@echo "make test   - lint, type-check, sam validate --lint, sam build, pytest (what CI runs)"

demo: $(VENV_STAMP)
	$(VENV)/bin/lambda-tuner demo

test: $(VENV_STAMP) $(SAM_STAMP) chromium lint typecheck validate build pytest

venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQ_FILES)
	@if ! $(VENV)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then \
	  echo "creating $(VENV) with $(PYTHON311)"; rm -rf $(VENV); $(PYTHON311) -m venv $(VENV); fi
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# The SAM CLI pins boto3/click/pydantic versions that clash with ours: it gets its own venv.
sam-venv: $(SAM_STAMP)

$(SAM_STAMP):
	@if ! $(SAM_VENV)/bin/python -c '' 2>/dev/null; then rm -rf $(SAM_VENV); $(PYTHON311) -m venv $(SAM_VENV); fi
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	rm -f $(SAM_VENV)/.installed-*
	touch $@

# The browser test drives Debian's chromium (never `playwright install`).
chromium:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: /usr/bin/chromium"; else \
	  sudo=""; if [ "$$(id -u)" != 0 ]; then sudo=sudo; fi; \
	  $$sudo apt-get update && $$sudo apt-get install -y chromium; fi

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check src tests

typecheck: $(VENV_STAMP)
	$(VENV)/bin/mypy

validate: $(SAM_STAMP)
	$(SAM) validate --lint

# Cached per samconfig.toml; the cache is keyed on src/ only, so a change to the requirements files forces
# a clean build (their hash is recorded next to the build output).
build: $(SAM_STAMP)
	@if [ -z "$(PY312_DIR)" ]; then \
	  echo "SKIPPING sam build: no python3.12 found (on PATH or under pyenv); the functions' bytecode" \
	       "must be compiled by the runtime's Python. Build-artefact tests will skip."; \
	  rm -rf .aws-sam/build; \
	else \
	  cached=""; if [ "$$(cat .aws-sam/.requirements-hash 2>/dev/null)" != "$(REQ_HASH)" ]; then cached=--no-cached; fi; \
	  echo "sam build $$cached (python3.12 from $(PY312_DIR))"; \
	  PATH="$(PY312_DIR):$$PATH" $(SAM) build $$cached; \
	  echo "$(REQ_HASH)" > .aws-sam/.requirements-hash; \
	fi

# Exit status 5 (no tests collected) fails like any other non-zero status.
pytest: $(VENV_STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Package sizes and cold import times of each handler, for BENCHMARKS.md.
measure: $(VENV_STAMP)
	PATH="$(PY312_DIR):$$PATH" $(VENV)/bin/python scripts/measure_packages.py

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
