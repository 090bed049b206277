# One-command set-up, tests and book. `make test` and `make book` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# spinning OpenMP threads make small torch ops ~100x slower when the 2 cores are shared
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup test book bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# pytest exits 5 when it collects nothing: that is a failure here, not a pass.
test: setup
	$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

book: setup
	$(VENV)/bin/jupyter-book build --all -W -n --keep-going .

bench: setup
	$(PY) -m els.bench

clean:
	rm -rf _build .pytest_cache
