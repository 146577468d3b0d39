# Set-up and everyday commands. Override TORCH_SPEC for a CUDA build, e.g.
#   make test TORCH_SPEC="torch --index-url <your CUDA wheel index>"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo clean browser screenshots

SAMPLE := glacierfront/data/sample
SCENE := $(SAMPLE)/JAC_2013-09-08_TSX_6_1_005.tif
OPTICAL := glacierfront/data/sample_optical
OPTICAL_SCENE := $(OPTICAL)/LE07_L1TP_009011_20000805_20170210_01_T1_B2.tif

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Torch goes in first and on its own, so the package's plain `torch` requirement is already met
# and pip never reaches for a multi-GB CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium + chromium-driver for the review page's browser tests, installed where missing.
browser:
	.ci/browser

# No -q: pytest prints one line per test file, its dots and the run's percentage so far.
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The screenshots in docs/review.md, taken by the browser tests.
screenshots: $(STAMP) browser
	GLACIERFRONT_SCREENSHOTS=1 $(BIN)/python -m pytest tests/test_review_browser.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The bundled sample scene through the shipped default model, then scored against its reference front.
# --aoi is the scene's CaFFe bounding box: without it lateral ice cliffs count as front.
demo: $(STAMP)
	mkdir -p demo
	$(BIN)/glacierfront predict $(SCENE) --overwrite -o demo/fronts.gpkg --zones demo/zones.tif \
		--quicklook demo/quicklook.png --aoi $(SAMPLE)/aoi.gpkg
	$(BIN)/glacierfront evaluate demo/fronts.gpkg --ref $(SAMPLE)/reference_front.gpkg --match all
	$(BIN)/glacierfront predict $(OPTICAL_SCENE) --overwrite --model optical -o demo/optical_fronts.gpkg \
		--zones demo/optical_zones.tif --quicklook demo/optical_quicklook.png --aoi $(OPTICAL)/aoi.gpkg
	$(BIN)/glacierfront evaluate demo/optical_fronts.gpkg --ref $(OPTICAL)/reference_front.gpkg --match all

clean:
	rm -rf $(VENV) build *.egg-info demo
