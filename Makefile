# The two entry points of the README. Each first installs what is missing.
.PHONY: setup demo test lint gpu-pack

setup:
	@scripts/setup.sh

## Compile every shipped kernel, check it on the CPU interpreter (or the GPU when present), print a table.
demo: setup
	cargo run --release --quiet -- demo

## Every CPU test: parser, IR round trips, pass files, interpreter vs f64 references, ptxas on every kernel;
## then the unit tests of the GPU-only modules (launch plans, chunk rules, views), which need no GPU.
GPU_FEATURES = sparsefill/gpu,sparsefill-runtime/gpu,sparsefill-patterns/gpu,sparsefill-model/gpu
test: setup lint
	SPARSEFILL_REQUIRE_PTXAS=1 SPARSEFILL_REQUIRE_CUOBJDUMP=1 cargo test --workspace --release
	cargo test --release -p sparsefill -p sparsefill-runtime -p sparsefill-patterns -p sparsefill-model --features "$(GPU_FEATURES)" --lib

## rustfmt's layout, and clippy with warnings as errors, with and without the GPU features
## (the GPU-only modules build without a GPU).
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --features "$(GPU_FEATURES)" -- -D warnings

## Build the GPU binaries and pack them for the GPU machine (docs/gpu.md).
gpu-pack: setup
	scripts/gpu-pack
