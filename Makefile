# The two commands: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
# The pseudonymization key of this checkout (never committed, never logged). The run fails
# without a key rather than fall back to an unkeyed hash; `make run` makes one once.
KEY    := .secrets/pseudonym.key
ARGS   ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
REPORT_ARGS ?=

.PHONY: install run test ui lint bench paper clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster,dp]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster,dp,bench]'
	touch $(BENCH_STAMP)

install: $(STAMP)

$(KEY):
	mkdir -p $(dir $(KEY)) && chmod 700 $(dir $(KEY))
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_hex(32))" > $(KEY)

## run: the main experiment on the embedded simulated cohort (override with ARGS="key=value ...")
run: install $(KEY)
	$(BIN)/privhealth-run $(ARGS)

## test: the whole test suite
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## paper: the paper's protocol (experiment=paper: 5 releases x 4 models), then its tables and
## figures rebuilt from MLflow under reports/paper/ (docs/paper.md). ARGS go to the experiment.
paper: install $(KEY)
	$(BIN)/privhealth-run experiment=paper $(ARGS)
	$(BIN)/privhealth-report $(REPORT_ARGS)

## bench: the benchmarks against peer tools and at scale; prints the tables and writes
## docs/benchmarks.md (about 15 min; BENCH_ARGS="--only peers_mondrian" for a subset)
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/report.py $(BENCH_ARGS)

## ui: the MLflow UI on the local tracking store (http://127.0.0.1:5000)
ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --port 5000

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf outputs multirun .cache reports
