# Back Office portal: the README's commands.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test demo lint bench bench-load serve-prod clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(FLASK) db upgrade
	$(FLASK) setup-link --base-url http://$(HOST):$(PORT)
	$(FLASK) run --host $(HOST) --port $(PORT) --no-debugger --no-reload

# Production: gunicorn with WEB_CONCURRENCY workers (default 2 x cores) on DATABASE_URL and
# RATELIMIT_STORAGE_URI; run `$(FLASK) db upgrade` first (the deploy step). See docs/deployment.md.
serve-prod: $(VENV)/.installed
	PORTAL_ENV=production $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

demo: $(VENV)/.installed
	$(FLASK) db upgrade
	$(FLASK) demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check portal tests bench config.py wsgi.py

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_lists.py
	$(BIN)/python bench/bench_signin.py
	$(BIN)/python bench/bench_session.py
	$(BIN)/python bench/bench_pos.py

# Load run: wrk (apt-get install -y wrk) against gunicorn with 2 and 4 workers on a scratch PostgreSQL
# database and Redis on 127.0.0.1, beside a minimal Flask-Login app; see docs/performance.md.
bench-load: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_load.py $(BENCH_LOAD_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
