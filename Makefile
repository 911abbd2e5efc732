# make run: a working service on http://127.0.0.1:5000 with nothing else to set up
#           (make run PORT=5050 for another port; the printed URLs follow it).
# make test: everything CI checks (ruff, import contracts, mypy, hotline check, pytest).

PYTHON ?= python3
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check install browser clean mutants

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/hotline db upgrade
	$(BIN)/hotline setup-dev --base-url http://127.0.0.1:$(PORT)
	$(BIN)/hotline run --host 127.0.0.1 --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

check: $(STAMP)
	$(BIN)/hotline check

test: lint check
	$(BIN)/pytest -p no:cacheprovider

# Not in CI: mutmut over the pure core (SCOPE=services: the callback and USSD services,
# hours, needs the test database and Redis). Prints the score per module and each
# surviving mutant. ARGS: mutant names to sample, --again, --jobs N (see the README).
SCOPE ?= core
ARGS ?=
mutants: $(STAMP)
	$(BIN)/python tests/mutants/run.py $(SCOPE) $(ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
