# The two commands of README.md: `make demo` and `make test`. Both create the
# virtualenv and install on first use, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
LOCALSTRIPE_PORT ?= 8420
# The demo's cards go to localstripe on loopback (started by `make demo`); its
# admin logins need no second factor (ADMIN_OTP_REQUIRED=0: no phone to hand).
DEMO_ENV = DEBUG=1 ADMIN_OTP_REQUIRED=0 STRIPE_SECRET_KEY=sk_test_demo STRIPE_PUBLISHABLE_KEY=pk_test_demo \
	STRIPE_API_BASE=http://127.0.0.1:$(LOCALSTRIPE_PORT) \
	STRIPE_JS_URL=http://127.0.0.1:$(LOCALSTRIPE_PORT)/js.stripe.com/v3/

.PHONY: install demo test lint serve clean schema

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m demo.localstripe $(LOCALSTRIPE_PORT)
	$(DEMO_ENV) $(PY) manage.py migrate --noinput
	$(DEMO_ENV) $(PY) manage.py seed_demo
	@echo "Serving the demo at http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(DEMO_ENV) $(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports  # the layers and their nevers (pyproject.toml [tool.importlinter])
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

# The checked-in OpenAPI schema (tests/api/test_schema.py fails when it drifts),
# generated on the embedded SQLite default: integer limits follow the backend.
schema: install
	env -u DATABASE_URL DEBUG=1 $(PY) manage.py spectacular --validate --fail-on-warn --file docs/api/openapi.yaml

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
