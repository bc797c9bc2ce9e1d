# Two commands do everything (see README):
#   make demo   - create .venv, install locmap (runtime dependencies only), run the whole Ealing job into out/ealing/
#   make test   - create .venv if needed, install the test tools + headless Chromium, poppler-utils, run the tests
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out/ealing
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
DEBIAN_TEST_PACKAGES := chromium chromium-driver poppler-utils libreoffice-calc-nogui gdal-bin

.PHONY: demo test install install-dev system-packages clean-out compile

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

# locmap's bytecode is written once here (compileall writes it even under PYTHONDONTWRITEBYTECODE=1,
# which CI's environment sets): every later process reads it instead of compiling ~120 modules
# (0.2-0.5 s CPU per process; Python recompiles in memory any file edited since).
# The k-nearest search's numba kernels are compiled once per change of their source, here, and cached
# beside it: a fresh checkout's first processes (the suite's workers, its CLI runs, batch workers and
# notebook kernels) then load them instead of each compiling them (~7 s CPU each).
KERNELS_STAMP := locmap/distance/__pycache__/kernels.stamp

compile: $(STAMP) $(KERNELS_STAMP)
	$(BIN)/python -m compileall -q locmap

$(KERNELS_STAMP): locmap/distance/_kbest.py $(STAMP)
	$(BIN)/python -c "from locmap.distance._kbest import compile_kernels; compile_kernels('int32')"
	mkdir -p $(@D) && touch $@

demo: compile
	$(BIN)/locmap run --area ealing --out $(OUT)

# Debian packages the tests use: chromium + chromium-driver (browser tests, PDF printing),
# poppler-utils (pdftoppm/pdftotext: PDF pages rendered and read back), libreoffice-calc-nogui
# (soffice: the run's workbook opened headless), gdal-bin (ogrinfo: GeoPackages read by Debian's GDAL).
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v soffice >/dev/null 2>&1 || command -v libreoffice >/dev/null 2>&1 || missing="$$missing libreoffice-calc-nogui"; \
	command -v ogrinfo >/dev/null 2>&1 || missing="$$missing gdal-bin"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing for the tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_TEST_PACKAGES) >/dev/null) \
	  || echo "WARNING: could not install$$missing; tests that need them will be skipped with a reason"; \
	fi

test: $(DEV_STAMP) system-packages compile
	$(BIN)/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder -q

clean-out:
	rm -rf $(OUT)
