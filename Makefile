# Two commands on a fresh machine:  `make run` (install, build the store if needed, serve)
# and `make test` (install, start the test services, run the whole suite and the eval gates).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 7860
HOST ?= 127.0.0.1

.PHONY: install run test test-fast check eval bench system-deps clean

$(BIN)/physio-assistant: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,llm,postgres]'
	touch $@

install: $(BIN)/physio-assistant

run: install
	HF_HUB_OFFLINE=1 $(BIN)/physio-assistant serve --host $(HOST) --port $(PORT)

system-deps:
	bash scripts/install-system-deps.sh

test: install system-deps
	bash scripts/test.sh

check: install
	bash scripts/check.sh

# Unit tests on small fixtures: no model, no server, no browser, SQLite only (under a minute).
test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q -m "not slow and not model"

eval: install
	HF_HUB_OFFLINE=1 $(BIN)/physio-assistant eval --out eval-out

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/physio-assistant bench --web --int8 --out bench-out

clean:
	rm -rf $(VENV) data eval-out bench-out artifacts .pytest_cache
