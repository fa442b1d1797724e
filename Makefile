# evpnscope — the README's two commands are `make demo` and `make test`.
SWIFT ?= swift
BIN := .build/release/evpnscope
DEMO_INPUT := datasets/demo/dumps

.PHONY: all build deps test demo bench clean dataset

all: build

# Installs the system libraries when their headers are missing (fresh Debian + Swift).
deps:
	@missing=""; \
	[ -f /usr/include/zlib.h ] || missing="$$missing zlib1g-dev"; \
	[ -f /usr/include/bzlib.h ] || missing="$$missing libbz2-dev"; \
	[ -f /usr/include/sqlite3.h ] || missing="$$missing libsqlite3-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; fi; \
	fi

build: deps
	$(SWIFT) build -c release --product evpnscope

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: build
	@rc=0; $(BIN) analyze $(DEMO_INPUT) --name demo || rc=$$?; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 1 ]; then exit $$rc; fi; \
	echo; echo "report: reports/demo/report.md   database: reports/demo/analysis.sqlite"

# Benchmarks against zcat/bzcat, bgpdump, mrtparse and pybgpkit-parser; writes reports/bench.md.
# BENCH_SCALE=100 (default) is the 1 million MAC fabric; BENCH_SCALE=10 runs in minutes.
bench: build
	python3 scripts/bench.py

clean:
	rm -rf .build

# Regenerates the committed demo dataset from its scenario (deterministic for the seed).
dataset: build
	rm -rf datasets/demo
	$(BIN) generate datasets/scenarios/demo.json --out datasets/demo
