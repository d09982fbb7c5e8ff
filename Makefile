# One entry point for readers, teachers and CI. Every target sets up .venv on first use.
#   make book    build the rendered book into _build/html
#   make test    run every test: lmcore unit tests, every notebook (quick mode), the book build
#   make lab     open the chapters live in JupyterLab
#   make notebooks   re-run every chapter in full mode and store its outputs (authors)
#   make bench   speed benchmarks (ratios against PyTorch, same run)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup book serve test lab notebooks bench clean

setup: $(INSTALLED)

# constraints.txt pins the versions CI tests with; requirements.txt keeps ranges for readers.
# tools/fetch_js.py downloads pinned, hash-checked JavaScript (Mermaid) from the npm registry.
$(INSTALLED): requirements.txt constraints.txt pyproject.toml tools/fetch_js.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -r requirements.txt
	# bertviz without its dependencies (boto3, sentencepiece, ...): lmcore only uses its views
	$(BIN)/python -m pip install -c constraints.txt --no-deps bertviz
	$(BIN)/python -m pip install --no-deps -e .
	$(BIN)/python tools/fetch_js.py
	@# the browser tests drive Debian's Chromium (no browser download at test time)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium) \
		|| (sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium)
	touch $@

book: setup
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python tools/check_html.py _build/html
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html (or run: make serve)"

serve:
	@echo "Serving the book at http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory _build/html

test: setup
	LMCORE_MODE=quick $(BIN)/python -m pytest -n 2 --dist loadfile

lab: setup
	$(BIN)/jupyter lab --notebook-dir=. chapters/01_self_attention.ipynb

notebooks: setup
	$(BIN)/python tools/notebooks.py run

bench: setup
	$(BIN)/python bench/attention.py
	$(BIN)/python bench/transformer.py
	$(BIN)/python bench/bert.py
	$(BIN)/python bench/finetune.py

clean:
	rm -rf _build
