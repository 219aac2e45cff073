# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-citus lint bench clean browser

# pip's own chatter (and the machine's index warnings) goes to a log, shown only when it fails.
PIP_QUIET = > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }

$(BIN)/python:
	@echo "setting up $(VENV) (the first time takes a few minutes)"
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip $(PIP_QUIET)

# Re-install only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "installing minutebook into $(VENV)"
	@$(BIN)/pip install --quiet -e . $(PIP_QUIET)
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@echo "installing minutebook with its test tools into $(VENV)"
	@$(BIN)/pip install --quiet -e '.[dev]' $(PIP_QUIET)
	@touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/minutebook ingest examples/notes
	$(BIN)/minutebook ask "When will Okta SSO be ready?"
	$(BIN)/minutebook who-owns "Okta SSO"

# The browser tests drive Debian's chromium (browsers cannot be downloaded here): install it when
# missing and we may; otherwise they are skipped with one line saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "could not install chromium: the browser tests will be skipped"; \
	  else echo "no chromium and not root: the browser tests will be skipped"; fi; }

test: $(VENV)/.installed-dev browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# The database tests again on a 3-node Citus cluster (coordinator + 2 workers on loopback), built
# once from ../shared/vendor into ~/.cache/minutebook/citus by scripts/citus-cluster; skipped with
# one line saying why when it cannot be built here. Every test that uses the test server runs
# (conftest marks them `database`); CITUS_TESTS="tests/test_x.py" runs fewer.
CITUS_TESTS ?= -m database
test-citus: $(VENV)/.installed-dev
	@if why=$$(scripts/citus-cluster check 2>&1); then \
	  url=$$(scripts/citus-cluster start --fresh) || exit 1; \
	  MINUTEBOOK_TEST_DATABASE_URL=$$url $(BIN)/python -m pytest -q $(CITUS_TESTS); status=$$?; \
	  scripts/citus-cluster stop; exit $$status; \
	else echo "test-citus skipped: $$why"; fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/owners.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/cache.py

clean:
	rm -rf $(VENV) .pytest_cache
