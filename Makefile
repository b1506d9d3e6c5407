# Two set-up commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Compiled bytecode is most of a cold start here (gunicorn workers, CLI commands, test workers).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test install lint bench clean messages

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode --require-hashes -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(BIN)/pybabel -q compile -d gateway/web/translations
	touch $(STAMP)

install: $(STAMP)

# The demo serves plain http on 127.0.0.1, so the session cookie cannot be Secure there.
demo: export XINYONG_ENV = development
demo: $(STAMP)
	$(BIN)/xinyong init
	$(BIN)/xinyong demo seed
	$(BIN)/xinyong serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# After changing the portal's strings: extract them and merge them into the catalogues, then translate the
# new entries of gateway/web/translations/zh/LC_MESSAGES/messages.po (the app compiles it at start-up).
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext --sort-by-file -o gateway/web/translations/messages.pot .
	$(BIN)/pybabel -q update -i gateway/web/translations/messages.pot -d gateway/web/translations --no-fuzzy-matching

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
