# The two commands of the README: `make demo` and `make test`. Both install missing Debian
# packages first (scripts/install-deps.sh), then configure and build into build/ (Release).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps configure build demo test bench clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake --preset release >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) --parallel $(JOBS)

demo: build
	@$(BUILD_DIR)/bin/lesionkit demo --out demo-output

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure --parallel $(JOBS) --timeout 900 $(CTEST_ARGS)

bench: build
	@bash scripts/install-deps.sh --bench
	@bash bench/run_all.sh

clean:
	@rm -rf $(BUILD_DIR)
