# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN ?= runs/demo

.PHONY: demo test test-quick install browser clean docs

# The stamp file re-installs whenever pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev,export]'
	touch $@

install: $(BIN)/.installed

# The demo's run folder is its own scratch space: start it afresh each time.
demo: install
	rm -rf $(RUN)
	$(BIN)/lstmlab train builtin:shakespeare --minutes 2 --out $(RUN)
	$(BIN)/lstmlab generate $(RUN) --prompt "ROMEO:" --length 400 --temperature 0.7 --seed 1
	$(BIN)/lstmlab inspect $(RUN) --file examples/balcony.txt --out $(RUN)/inside.html --find

# tests/test_inspect_page.py opens the inspect page in headless Chromium (Debian's package).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium)

test: install browser
	$(BIN)/python -m pytest -q

# The quick loop while editing: everything but the tests marked slow (torchrun, Chromium, real servers, CLI
# runs that train). Run `make test` before pushing.
test-quick: install
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs .cache

# docs/cli.md is generated from the argument parser; tests/test_docs.py fails if it is stale.
docs: install
	$(BIN)/python -c "from lstmlab.cli import help_markdown; print(help_markdown(), end='')" > docs/cli.md
