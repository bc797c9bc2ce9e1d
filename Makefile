# Two commands do everything (see README):
#   make demo   - create .venv, install locmap, run the whole Ealing job into out/
#   make test   - create .venv if needed, install test tools + headless Chromium, run the tests
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out
STAMP := $(VENV)/.installed

.PHONY: demo test install browser clean-out

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/locmap run --area ealing --out $(OUT)

browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  echo "installing chromium + chromium-driver for browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "WARNING: could not install chromium; browser tests will be skipped"; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

clean-out:
	rm -rf $(OUT)
