# Chain Recruit: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test test-fast lint bench messages check-translations check-deploy clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

## run: install, migrate, seed the Taixin data and the demo, print the demo login, serve.
# Local development defaults: DEBUG on (no secret key needed), SQLite and the embedded
# broker unless DATABASE_URL / REDIS_URL say otherwise.
run: $(STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py runproduct $(RUN_ARGS)

## test: the whole suite (PostgreSQL and Redis are used when they answer on 127.0.0.1).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: the suite without the slow multi-process and browser tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

check-deploy: $(STAMP)
	DJANGO_SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(60))') \
	DJANGO_ALLOWED_HOSTS=example.org DJANGO_DEBUG=0 DJANGO_SETTINGS_MODULE=config.settings \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

## messages: refresh the zh-hans catalogue after changing strings, then translate and commit .po and .mo.
messages: $(STAMP)
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete --ignore='.venv/*' --ignore='tests/*' --ignore='var/*'
	DJANGO_DEBUG=1 $(BIN)/python manage.py compilemessages -l zh_Hans --ignore='.venv/*'

check-translations: $(STAMP)
	.ci/check-translations

clean:
	rm -rf $(VENV) var
