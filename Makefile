# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the suite).
# Both build .venv from uv.lock with Python 3.12; nothing needs installing by hand.

UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test test-fast lint docs clean

$(UV):
	PY=$$(scripts/find-python) && $$PY -m venv .tools && .tools/bin/pip install -q uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml core/pyproject.toml registry/pyproject.toml plugins/*/pyproject.toml
	$(UV) sync --locked --all-packages --python "$$(scripts/find-python)"
	touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/ssmhub demo neuroracer --out neuroracer

test: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir $$(mktemp -d)
	$(VENV)/bin/pytest -n 2 --dist loadgroup --durations=25

test-fast: $(VENV)/.synced
	$(VENV)/bin/pytest -n 2 --dist loadgroup -m "not slow and not network"

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .tools site
