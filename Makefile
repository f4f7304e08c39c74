# Two commands matter: `make run` and `make test`. Everything installs into .venv from the package registry.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-fast bench lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pagewise needs Python 3.11+")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make run: start NATS, Postgres, storage and all services on embedded defaults; prints the URL
run: install
	$(BIN)/pagewise up

## make test: the whole suite against real servers it starts itself
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: throughput, overhead, rendering, upload memory, SSE fan-out (figures printed and saved)
bench: install
	@command -v pdftoppm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null); } \
	  || echo "pdftoppm missing (apt-get install poppler-utils): the render comparison will be skipped"
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check proto services tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pagewise .pytest_cache .mypy_cache .ruff_cache *.egg-info
