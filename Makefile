# evpnscope — the README's two commands are `make demo` and `make test`.
SWIFT ?= swift
BIN := .build/release/evpnscope
DEMO_INPUT := datasets/demo/dumps

.PHONY: all build deps test demo bench clean dataset fuzz check format pgo

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

# Records pgo/evpnscope.profdata, the profile the release build is optimised with (Package.swift),
# from an instrumented build's runs on training scenarios; the next release build starts over.
pgo: deps
	SWIFT=$(SWIFT) scripts/pgo.sh

# Benchmarks against zcat/bzcat, bgpdump, mrtparse and pybgpkit-parser; writes reports/bench.md.
# BENCH_SCALE=100 (default) is the 1 million MAC fabric; BENCH_SCALE=10 runs in minutes.
bench: build
	$(SWIFT) build -c release --product evpnscope-enginebench
	python3 scripts/bench.py

# libFuzzer targets for the MRT reader, BMP reader, UPDATE decoder, EVPN NLRI decoder and the
# bzip2 block decoder, seeded from real dumps; FUZZ_SECONDS per target. Crashes land in Fuzz/crashes/.
FUZZ_SECONDS ?= 300
fuzz: build
	Fuzz/build.sh
	python3 Fuzz/seed.py
	mkdir -p Fuzz/crashes
	for t in update evpn mrt bmp bzip2 report; do \
	  .build-fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -rss_limit_mb=2048 -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=Fuzz/crashes/$$t- .build-fuzz/corpus/$$t 2>&1 | grep -E "Done|ERROR|SUMMARY|number_of_executed_units"; \
	done

# The test suite under AddressSanitizer and ThreadSanitizer (the decompression thread).
check: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	LSAN_OPTIONS=suppressions=$(CURDIR)/.lsan-suppressions:print_suppressions=0 \
	  $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan

clean:
	rm -rf .build

# Regenerates the committed demo dataset from its scenario (deterministic for the seed).
dataset: build
	rm -rf datasets/demo
	$(BIN) generate datasets/scenarios/demo.json --out datasets/demo

# Lays out the Swift sources the project's way (.swift-format: 4 spaces, 120 columns, layout only,
# no rewriting rules), with the swift-format of the toolchain.
format:
	$(SWIFT) format -i -r Sources Tests Fuzz Package.swift
