# Two commands: `make run` (the pipeline on the local emulator) and `make test`.
# Both create .venv when it is missing. Python 3.12 (the Lambda runtime) is
# preferred when its interpreter actually runs; otherwise python3 (3.11+).

PYTHON ?= $(shell for p in python3.12 python3; do $$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Test processes in parallel (pytest-xdist). Much of the suite waits on emulators
# and notebook kernels, so a 2-core machine runs 3 well; `make test JOBS=0` runs in one process.
JOBS   ?= 3
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

.PHONY: run test test-quick lab notebooks down stop clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3.12 or python3)."; exit 1; }
	@test -x $(BIN)/python || { echo "Creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m walkthrough emulator start
	$(BIN)/python -m walkthrough run
	@echo
	@echo "The pipeline is up on the local emulator. Next:"
	@echo "  make lab                                   open the notebooks in JupyterLab"
	@echo "  build/notebooks/07_testing_pipeline.ipynb  the executed run, with the processed photo"
	@echo '  eval "$$($(BIN)/python -m walkthrough emulator env)" && aws s3 ls s3://processed-image-bucket'
	@echo "  make down                                  delete everything and stop the emulator"

test: $(STAMP)
	$(PYTEST)

# The inner loop: everything but the notebook runs (nbval, papermill), the restarts and the load test.
test-quick: $(STAMP)
	$(PYTEST) -m "not slow" tests

lab: $(STAMP)
	$(BIN)/python -m walkthrough emulator start
	$(BIN)/jupyter lab notebooks

notebooks: $(STAMP)
	$(BIN)/python -m walkthrough.runner

down: $(STAMP)
	$(BIN)/python -m walkthrough down
	$(BIN)/python -m walkthrough emulator stop

stop: $(STAMP)
	-$(BIN)/python -m walkthrough emulator stop

clean:
	-test -x $(BIN)/python && $(BIN)/python -m walkthrough emulator stop 2>/dev/null
	rm -rf $(VENV) build .pytest_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
