# imgopt: the two commands are `make demo` and `make test` (see README.md).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
FIXTURE := fixtures/sample.tar
DEMO    := reports/demo

.PHONY: install system services demo test test-fast bench fuzz clean

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

PROBE   := fixtures/sample/probe.yaml

# The main job, end to end, on the shipped fixture; output under reports/demo/.
# (The trace runs in the native sandbox: root, strace; `system` installs it.)
demo: install system
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/imgopt inspect $(FIXTURE) | tee $(DEMO)/inspect.txt
	$(BIN)/imgopt inspect --format json $(FIXTURE) > $(DEMO)/inspect.json
	$(BIN)/imgopt copy --quiet --compress zstd $(FIXTURE) oci:$(DEMO)/sample-oci:zstd
	$(BIN)/imgopt inspect --deep oci:$(DEMO)/sample-oci:zstd | tee $(DEMO)/inspect-zstd.txt
	$(BIN)/imgopt analyze --dockerfile fixtures/sample/Dockerfile $(FIXTURE) | tee $(DEMO)/analyze.txt
	$(BIN)/imgopt analyze --format json -o $(DEMO)/analyze.json $(FIXTURE)
	$(BIN)/imgopt analyze --format markdown -o $(DEMO)/analyze.md $(FIXTURE)
	$(BIN)/imgopt trace --backend native --probe $(PROBE) -o $(DEMO)/profile.json $(FIXTURE) | tee $(DEMO)/trace.txt
	$(BIN)/imgopt minify $(FIXTURE) --profile $(DEMO)/profile.json --probe $(PROBE) --verify native \
	  --compress estargz --removed $(DEMO)/removed.json -o oci:$(DEMO)/sample-slim:slim | tee $(DEMO)/minify.txt
	$(BIN)/imgopt analyze oci:$(DEMO)/sample-slim:slim > $(DEMO)/analyze-slim.txt
	$(BIN)/imgopt simulate $(FIXTURE) --profile $(DEMO)/profile.json --registry vpc,public \
	  --client docker,lazy --compare oci:$(DEMO)/sample-slim:slim | tee $(DEMO)/simulate.txt
	$(BIN)/imgopt simulate $(FIXTURE) --profile $(DEMO)/profile.json --registry vpc,public \
	  --client docker,containerd,lazy --compare oci:$(DEMO)/sample-slim:slim --format markdown > $(DEMO)/simulate.md
	$(BIN)/imgopt report $(FIXTURE) --slim oci:$(DEMO)/sample-slim:slim --profile $(DEMO)/profile.json \
	  --dockerfile fixtures/sample/Dockerfile -o $(DEMO)/report.html
	$(BIN)/imgopt report $(FIXTURE) --slim oci:$(DEMO)/sample-slim:slim --profile $(DEMO)/profile.json \
	  --dockerfile fixtures/sample/Dockerfile -o $(DEMO)/report.md
	$(BIN)/imgopt gate $(FIXTURE) --dockerfile fixtures/sample/Dockerfile | tee $(DEMO)/gate.txt
	@echo "demo: reports written to $(DEMO)/"

test: install services
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

# pytest-benchmark suites, then the scale runs kept out of `make test` (imgopt scan on 200+ tags:
# reports/scan.md; imgopt analyze vs dive --ci: reports/analyze-vs-dive.md).
bench: install services
	$(BIN)/pytest -q benchmarks
	$(BIN)/python benchmarks/scan_bench.py --tags 210
	$(BIN)/python benchmarks/vs_dive.py --runs 5

# Long coverage-guided runs of the atheris targets (tests/fuzz/); make test runs each for 20 s.
# A crash lands in .fuzz/crash-*: save it in tests/fuzz/crashes/TARGET/ (replayed by tests/test_fuzz.py).
FUZZ_TIME ?= 600
fuzz: install
	@for t in layer documents dockerfile; do \
	  mkdir -p .fuzz/$$t && echo "fuzzing $$t for $(FUZZ_TIME) s" && \
	  $(BIN)/python tests/fuzz/fuzz.py $$t -max_total_time=$(FUZZ_TIME) -timeout=20 -rss_limit_mb=2048 \
	    -artifact_prefix=.fuzz/ .fuzz/$$t tests/fuzz/seeds/$$t || exit 1; \
	done
	IMGOPT_FUZZ_RANDOM=1 IMGOPT_FUZZ_EXAMPLES=5000 $(BIN)/pytest -q tests/test_properties.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .fuzz
