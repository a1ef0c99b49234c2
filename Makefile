# Two commands: `make run` (the pipeline on the local emulator) and `make test`.
# Both create .venv when it is missing and install the locked set, requirements.lock
# (scripts/setup-venv: uv when it is there or can be installed, else pip). Python 3.12
# (the Lambda runtime) is preferred when its interpreter actually runs; otherwise python3 (3.11+).
#
# Workshops: `make bundle` writes every wheel of the lock, for Linux and macOS, Python 3.11-3.13,
# to build/bundle/ (BUNDLE=<dir> chooses another folder); `make run BUNDLE=<dir>` and
# `make test BUNDLE=<dir>` then set a fresh clone up from it with no network.

PYTHON ?= $(shell for p in python3.12 python3; do $$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUNDLE ?=
INSTALLER ?= auto
# Test processes in parallel (pytest-xdist). Much of the suite waits on emulators
# and notebook kernels, so a 2-core machine runs 3 well; `make test JOBS=0` runs in one process.
JOBS   ?= 3
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup
# Python's default for everything started from here: a module's bytecode is cached in __pycache__ at
# its first import. Where PYTHONDONTWRITEBYTECODE is set (as on the machines this was measured on),
# every emulator, kernel and CLI run compiled boto3, moto, IPython and this package from source again.
export PYTHONDONTWRITEBYTECODE :=
# The suite starts dozens of processes, several at once: the whole environment is byte-compiled
# before it (16 s on 2 cores, once), as pip does at install; otherwise they compiled the same
# modules side by side, 35 s more CPU on a fresh clone. `make run` needs a quarter of the modules and
# compiles them as it goes (its set-up takes 8 s instead of 24 s).
COMPILED := $(VENV)/.compiled

.PHONY: run test test-quick test-offline test-browser lab notebooks down stop clean lock bundle

$(STAMP): pyproject.toml requirements.lock scripts/setup-venv
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3.12 or python3)."; exit 1; }
	@PYTHON="$(PYTHON)" INSTALLER="$(INSTALLER)" bash scripts/setup-venv $(VENV) "$(BUNDLE)"
	@touch $(STAMP)

$(COMPILED): $(STAMP)
	@echo "setup: byte-compiling .venv for the test suite"
	@$(BIN)/python -m compileall -qq -j 0 $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') || true
	@touch $(COMPILED)

run: $(STAMP)
	$(BIN)/python -m walkthrough emulator start
	$(BIN)/python -m walkthrough run
	@echo
	@echo "The pipeline is up on the local emulator. Next:"
	@echo "  make lab                                   open the notebooks in JupyterLab"
	@echo "  build/notebooks/07_testing_pipeline.ipynb  the executed run, with the processed photo"
	@echo '  eval "$$($(BIN)/python -m walkthrough emulator env)" && aws s3 ls s3://processed-image-bucket'
	@echo "  make down                                  delete everything and stop the emulator"

test: $(COMPILED)
	$(PYTEST)

# The inner loop: everything but the notebook runs (nbval, papermill), the restarts and the load test.
test-quick: $(COMPILED)
	$(PYTEST) -m "not slow" tests

# A fresh clone set up from a bundle inside a network namespace with no network, then the
# notebook sequence there (tests/test_offline_bundle.py; needs root for unshare -n).
test-offline: $(STAMP)
	WALKTHROUGH_TEST_OFFLINE=1 $(BIN)/python -m pytest -n 0 -p no:cacheprovider tests/test_offline_bundle.py

# The notebooks as a learner sees them: JupyterLab in headless Chromium (Debian: apt-get install
# chromium chromium-driver), 00, 03 and 07 run in the browser and checked; screenshots in build/browser/
# (tests/test_browser.py; skipped, with the reason, when no browser is installed).
test-browser: $(STAMP)
	WALKTHROUGH_TEST_BROWSER=1 $(BIN)/python -m pytest -n 0 -p no:cacheprovider tests/test_browser.py

# Refresh requirements.lock after a change to pyproject.toml, for every platform and Python 3.11+:
# the pins that still fit stay; `make lock UPGRADE=1` moves everything to the newest in range.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra test --group setup --universal --python-version 3.11 \
		-c lock-constraints.txt $(if $(UPGRADE),--upgrade) --custom-compile-command "make lock" \
		--quiet -o requirements.lock

# The offline bundle for workshops (see README, "Preparing a workshop").
bundle:
	@$(MAKE) --no-print-directory $(STAMP) BUNDLE=
	$(BIN)/python scripts/bundle.py "$(or $(BUNDLE),build/bundle)"

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
