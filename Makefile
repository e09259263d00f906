# Virtual IOP: `make run` to try it, `make test` to check it. Needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck migrations-check pytest clean seed bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements/dev.txt
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	@if [ ! -f var/.demo-seeded ]; then $(BIN)/python manage.py seed_demo && touch var/.demo-seeded; fi
	@$(BIN)/python manage.py demo_live
	@$(BIN)/python deploy/video_dev.py
	@echo ""
	@echo "  Virtual IOP is starting at http://127.0.0.1:$(PORT)/"
	@echo "  Demo logins (password demo-pass-1234):"
	@echo "    patient1@demo.test ... patient12@demo.test"
	@echo "    clinician1@demo.test, clinician2@demo.test, admin@demo.test"
	@echo "    staff TOTP secret VIRTUALIOPDEMOSTAFFSECRETKEYAAAA  (code: $(BIN)/oathtool VIRTUALIOPDEMOSTAFFSECRETKEYAAAA)"
	@echo "  E-mails (sign-up verification, reminders) are printed in this console. Ctrl-C stops everything."
	@echo "  Video: patient1 and clinician1 have a 1:1 visit now (My week / Today); VIDEO=off make run skips it."
	@echo ""
	SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} PORT=$(PORT) $(BIN)/honcho -e var/video.env -f deploy/Procfile.dev start

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check virtualiop apps tests conftest.py

typecheck: install
	$(BIN)/mypy virtualiop apps

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

# Two workers (pytest-xdist), a test file at a time each, in collection order (browser tests
# last); PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= 2
pytest: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

test: install lint typecheck migrations-check pytest

seed: install
	$(BIN)/python manage.py seed_demo

# The production topology on this machine: nginx in front, gunicorn for pages, two daphne
# processes for /ws/, Celery worker + beat, on PostgreSQL and Redis (deploy/prod-local.py).
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/virtualiop REDIS_URL=redis://127.0.0.1:6379/0 make prod-local
.PHONY: prod-local
prod-local: install
	$(BIN)/python deploy/prod-local.py --migrate $(PROD_LOCAL_ARGS)

# Benchmarks against baselines, results as tables (bench/RESULTS.md); same variables as
# prod-local. BENCH_ARGS="--quick" checks the harness; "--soak-seconds 1800" is the 30-minute soak.
bench: install
	DJANGO_SETTINGS_MODULE=bench.settings $(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
