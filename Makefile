# Two commands set everything up on a fresh machine:
#   make demo   build the example runbooks into build/ (creates .venv)
#   make test   run the whole test suite (creates .venv)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXAMPLES := $(wildcard runbooks/*.yaml)

.PHONY: demo test golden readme bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@for f in $(EXAMPLES); do \
	  $(BIN)/runbook validate "$$f" || exit 1; \
	  $(BIN)/runbook build "$$f" -o build/ || exit 1; \
	done

test: $(STAMP)
	$(BIN)/python -m pytest

# Regenerate the committed golden files after an intended change of the outputs.
golden: $(STAMP)
	$(BIN)/python -m tests.golden

# Regenerate the definition reference in README.md from the schema.
readme: $(STAMP)
	$(BIN)/python -m compiler.reference --update README.md

# Measure the compiler and the generated script (minutes; not part of `make test`);
# prints the figures and records them in docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m tests.benchmark

lint: $(STAMP)
	$(BIN)/python -m mypy

clean:
	rm -rf build/ $(VENV) .pytest_cache .hypothesis *.egg-info
