# One entry point for readers, teachers and CI. Every target sets up .venv on first use, through
# tools/setup_env.py (the one place the installs are listed; PowerShell users call it directly,
# see README).
#   make book    build the rendered book into _build/html (English; Chinese in _build/html/zh_CN)
#   make translations   update locale/zh_CN after editing prose, and list what needs translating
#   make test    run every test: lmcore unit tests, every notebook (quick mode), the book build
#   make lab     open the chapters live in JupyterLab
#   make notebooks   re-run every chapter in full mode and store its outputs (authors)
#   make bench   speed benchmarks (ratios against PyTorch, same run)
#   make lock    rebuild constraints.txt for every supported Python (needs PyPI)

PYTHON ?= python3
VENV := .venv
ifeq ($(OS),Windows_NT)
BIN := $(VENV)/Scripts
else
BIN := $(VENV)/bin
endif
SETUP_INPUTS := requirements.txt constraints.txt pyproject.toml tools/setup_env.py tools/fetch_js.py

.PHONY: setup setup-tests book translations serve test lab notebooks bench bench-news clean lock mutation

setup: $(VENV)/.installed
setup-tests: $(VENV)/.installed-tests

$(VENV)/pyvenv.cfg:
	$(PYTHON) -m venv $(VENV)

# reading, running and building the book: no browser, no root
$(VENV)/.installed: $(VENV)/pyvenv.cfg $(SETUP_INPUTS)
	$(BIN)/python tools/setup_env.py
	touch $@

# the tests also need the test tools and a Chromium (the system's, Debian's, or Playwright's)
$(VENV)/.installed-tests: $(VENV)/pyvenv.cfg $(SETUP_INPUTS) requirements-tests.txt
	$(BIN)/python tools/setup_env.py --for tests
	touch $(VENV)/.installed $@

book: setup
	$(BIN)/python tools/book.py build
	$(BIN)/python tools/check_html.py _build/html

# after editing prose: update locale/zh_CN from the English, then translate what it marks
translations: setup-tests
	$(BIN)/python tools/book.py messages
	$(BIN)/python tools/translations.py

serve:
	@echo "Serving the book at http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory _build/html

test: setup-tests
	LMCORE_MODE=quick $(BIN)/python -m pytest -n 2 --dist loadfile

# JupyterLab refuses to start as root unless told (containers and some hubs run as root)
LAB_AS_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=. $(LAB_AS_ROOT) chapters/01_self_attention.ipynb

notebooks: setup
	$(BIN)/python tools/notebooks.py run

bench: setup
	$(BIN)/python bench/attention.py
	$(BIN)/python bench/transformer.py
	$(BIN)/python bench/bert.py
	$(BIN)/python bench/finetune.py
	$(BIN)/python bench/optimizer_step.py

bench-news: setup  # about an hour on 2 cores: writes the record chapter 5 shows
	$(BIN)/python bench/news_recipe.py --output book/results/news/recipe-comparison.json

# Mutation testing (see README): one module at a time, MODULE=lmcore.classify for example.
# One thread per forked mutant: a child forked after torch started its thread pool hangs in it.
MODULE ?= lmcore
mutation: setup-tests  # needs mutmut in the environment (see README)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 LMCORE_MODE=quick $(BIN)/mutmut run --max-children 2 "$(MODULE)*"
	$(BIN)/mutmut results

# constraints.txt: one lock for Python 3.10 to 3.13 on Linux, macOS and Windows (environment
# markers where a Python or a system needs another version), keeping the versions already there
lock: setup
	$(BIN)/python tools/lock.py

clean:
	rm -rf _build
