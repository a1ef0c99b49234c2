# Two commands: `make run` (the pipeline on the local emulator) and `make test`.
# Both create .venv when it is missing. Python 3.12 (the Lambda runtime) is
# preferred when its interpreter actually runs; otherwise python3 (3.11+).

PYTHON ?= $(shell for p in python3.12 python3; do $$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lab demo down stop clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3.12 or python3)."; exit 1; }
	@test -x $(BIN)/python || { echo "Creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m walkthrough emulator start
	$(BIN)/python -m walkthrough demo

test: $(STAMP)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/python -m walkthrough emulator start
	$(BIN)/jupyter lab notebooks

stop: $(STAMP)
	-$(BIN)/python -m walkthrough emulator stop

down: stop

clean:
	-test -x $(BIN)/python && $(BIN)/python -m walkthrough emulator stop 2>/dev/null
	rm -rf $(VENV) build .pytest_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
