# Service Desk: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
export PORT

.PHONY: run test lint format bench install clean

# Create the virtual environment and install the pinned dependencies (only when they changed).
$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Service Desk needs Python 3.11 or newer, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

## make run: migrate, seed demo data into an empty database, start web, worker and beat (Ctrl-C stops all).
run: install
	$(PY) manage.py rundesk --port $(PORT)

## make test: the whole test suite on PostgreSQL and Redis (DATABASE_URL / REDIS_URL, default 127.0.0.1).
test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# Both checks read the code only: an in-memory database, no server needed.
	DATABASE_URL=sqlite://:memory: DJANGO_SETTINGS_MODULE=service_desk.settings.test $(PY) manage.py check
	DATABASE_URL=sqlite://:memory: DJANGO_SETTINGS_MODULE=service_desk.settings.test $(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## make bench: benchmark scenarios under bench/ against PostgreSQL; prints a table, never fails on timing.
bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
