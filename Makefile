# mtlscope: `make demo` on a fresh machine sets everything up and runs a small experiment;
# `make test` sets up and runs the test suite. Set-up steps are idempotent.
CARGO ?= cargo
BIN := target/release/mtlscope
DEMO_OUT ?= out/demo

.PHONY: setup build demo test lint bench clean-demo

setup:
	bash scripts/setup.sh

build: setup
	$(CARGO) build --release -p mtlscope

demo: build
	bash scripts/demo.sh $(BIN) $(DEMO_OUT)

test: setup
	$(CARGO) test --workspace

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: build
	$(BIN) bench step

clean-demo:
	rm -rf $(DEMO_OUT)
