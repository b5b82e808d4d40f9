# imgopt: the two commands are `make demo` and `make test` (see README.md).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
FIXTURE := fixtures/sample.tar
DEMO    := reports/demo

.PHONY: install system services demo test test-fast bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

system:
	scripts/ensure-system.sh

services: system
	scripts/start-services.sh

# The main job, end to end, on the shipped fixture; output under reports/demo/.
demo: install
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/imgopt inspect $(FIXTURE) | tee $(DEMO)/inspect.txt
	$(BIN)/imgopt inspect --format json $(FIXTURE) > $(DEMO)/inspect.json
	$(BIN)/imgopt copy --quiet --compress zstd $(FIXTURE) oci:$(DEMO)/sample-oci:zstd
	$(BIN)/imgopt inspect --deep oci:$(DEMO)/sample-oci:zstd | tee $(DEMO)/inspect-zstd.txt
	$(BIN)/imgopt analyze --dockerfile fixtures/sample/Dockerfile $(FIXTURE) | tee $(DEMO)/analyze.txt
	$(BIN)/imgopt analyze --format json -o $(DEMO)/analyze.json $(FIXTURE)
	$(BIN)/imgopt analyze --format markdown -o $(DEMO)/analyze.md $(FIXTURE)
	$(BIN)/imgopt simulate $(FIXTURE) --registry vpc,public | tee $(DEMO)/simulate.txt
	@echo "demo: reports written to $(DEMO)/"

test: install services
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

bench: install services
	$(BIN)/pytest -q benchmarks

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
