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
# anonymeter 1.1.0 declares numpy<1.27 and pyarrow<22, which would downgrade numpy 2.4 and pyarrow;
# its code runs unchanged on numpy 2.4 / pandas 3.1 / pyarrow 25 (tests/test_anonymeter.py), so it
# is installed without its declared pins; its real imports are the `anonymeter` extra of pyproject.
ANONYMETER = $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'anonymeter==1.1.0'
BENCH_ARGS ?=
REPORT_ARGS ?=

.PHONY: install run test test-ui ui notebook lint typecheck mutate bench paper frontier clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster,dp,synth,anonymeter]'
	$(ANONYMETER)
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster,dp,synth,anonymeter,bench]'
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

## frontier: k/l/t, DP-SGD, DP synthetic and synthetic releases on one privacy-utility plot
## (experiment=frontier, 10 jobs), then the report with the families section under reports/frontier/
## (docs/frontier.md). ARGS go to the experiment, e.g. ARGS="data.n_patients=300 model.dense.max_epochs=10".
frontier: install $(KEY)
	$(BIN)/privhealth-run experiment=frontier $(ARGS)
	$(BIN)/privhealth-report report.experiment=frontier report.frontier.families=true \
		'report.out=$${paths.reports}/frontier' $(REPORT_ARGS)

## bench: the benchmarks against peer tools and at scale; prints the tables and writes
## docs/benchmarks.md (about 15 min; BENCH_ARGS="--only peers_mondrian" for a subset)
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/report.py $(BENCH_ARGS)

## ui: the MLflow UI on the local tracking store; prints the link that opens the runs table
## (machine-learning view, privacy and F1 columns, best test/f1 first)
ui: install
	$(BIN)/python -m privhealth.experiments.runs_view sqlite:///$(CURDIR)/mlflow.db
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

## notebook: Jupyter on notebooks/ (installs the `notebook` extra: JupyterLab)
notebook: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster,notebook]'
	$(BIN)/jupyter lab notebooks/

## test-ui: the real-browser test of the MLflow link (headless Chromium from the OS packages)
test-ui: install
	bash .ci/install-chromium
	$(BIN)/python -m pytest tests/test_ui_browser.py $(PYTEST_ARGS)

## lint: ruff, then the architecture contracts of pyproject's [tool.importlinter] (layers,
## forbidden imports, no cycles); .ci/run runs it before the tests
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## mutate: one-line mutants of the modules whose numbers are published, each against that
## module's tests (tools/mutants.py; docs/testing.md). MODULE=src/models/evaluation.py for one,
## MUTATE_ARGS="--max 40 --seed 1" for a sample. Exits 1 while a non-equivalent mutant survives.
MODULE ?=
MUTATE_ARGS ?=
mutate: install
	$(BIN)/python tools/mutants.py $(MODULE) $(MUTATE_ARGS)

## typecheck: mypy on src/ (configuration: [tool.mypy] in pyproject.toml)
typecheck: install
	$(BIN)/python -m mypy

clean:
	rm -rf outputs multirun .cache reports
