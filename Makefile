# Convenience front end over CMake. `make test` is the one command CI runs.
MAKEFLAGS += --no-print-directory
BUILD      ?= build
SAN_BUILD  ?= build-sanitize
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
CTEST_ARGS ?=

.PHONY: all deps configure build test sanitize fuzz fuzz-smoke demo bench format clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	@$(MAKE) --no-print-directory fuzz-smoke

sanitize: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DR2K_SANITIZE=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)
	@rm -rf $(SAN_BUILD)/sanitizer-reports && mkdir -p $(SAN_BUILD)/sanitizer-reports
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/$(SAN_BUILD)/sanitizer-reports/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(SAN_BUILD)/sanitizer-reports/ubsan \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	@# Every process of the suite (clients, runners, builders' helpers) reports into one directory.
	@if [ -n "$$(ls -A $(SAN_BUILD)/sanitizer-reports)" ]; then \
	  cat $(SAN_BUILD)/sanitizer-reports/*; echo "make sanitize: sanitizer reports above"; exit 1; fi

# Fuzzing needs clang's libFuzzer; without clang these targets say so and stop.
$(FUZZ_BUILD)/Makefile: deps
	@command -v clang >/dev/null || { echo "make fuzz: clang not found: install the Debian package clang"; exit 1; }
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DR2K_FUZZ=ON >/dev/null

fuzz: $(FUZZ_BUILD)/Makefile
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets >$(FUZZ_BUILD)/build.log 2>&1 \
	  || { cat $(FUZZ_BUILD)/build.log; exit 1; }
	@scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

demo: build
	@scripts/demo.sh $(BUILD)/r2k

bench: build
	@bench/run.sh $(BUILD)

format:
	@clang-format -i src/*.c src/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c bench/standin.c

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
