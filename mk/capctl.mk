# capctl and the system description (tools/capctl, sysspec, system.toml).
#
#   make test-capctl   every system description checks, the default one is lint-clean,
#                      and its expected capability dump audits clean
#   make fuzz-capctl   run capctl's cargo-fuzz targets (installs cargo-fuzz when missing)
#   make capctl-graph  draw the capability graph of $(SYSTEM) to build/<name>.svg
#
# Plain `cargo test` (make host-test) already runs capctl's unit, golden, property and
# fuzz-corpus regression tests; these targets add what needs the release binary.

TEST_TARGETS += test-capctl
FUZZ_TARGETS += fuzz-capctl

CAPCTL_FUZZ_DIR := tools/capctl/fuzz
# How long each fuzz target runs, in seconds: long enough to explore past the seed corpus,
# short enough for `make fuzz` to finish in a coffee break.
CAPCTL_FUZZ_SECONDS ?= 120
CAPCTL_SYSTEMS := system.toml $(wildcard tests/systems/*.toml)

.PHONY: test-capctl fuzz-capctl capctl-graph

test-capctl: host
	@mkdir -p build
	@for f in $(CAPCTL_SYSTEMS); do $(CAPCTL) check "$$f"; done
	$(CAPCTL) lint --deny-warnings system.toml
	$(CAPCTL) audit system.toml --print-expected > build/capctl-expected.dump
	$(CAPCTL) audit system.toml build/capctl-expected.dump
	$(CAPCTL) graph system.toml -o build/system.svg

# cargo-fuzz passes nightly-only flags (-Z sanitizer); RUSTC_BOOTSTRAP lets the stable
# toolchain accept them. New interesting inputs land in the corpus directories, which
# `cargo test -p capctl` replays as a regression test.
fuzz-capctl:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd $(CAPCTL_FUZZ_DIR) && RUSTC_BOOTSTRAP=1 cargo fuzz run check corpus/check -- \
		-max_total_time=$(CAPCTL_FUZZ_SECONDS) -max_len=8192
	cd $(CAPCTL_FUZZ_DIR) && RUSTC_BOOTSTRAP=1 cargo fuzz run spec corpus/spec -- \
		-max_total_time=$(CAPCTL_FUZZ_SECONDS) -max_len=16384

capctl-graph: host
	@mkdir -p build
	$(CAPCTL) graph '$(SYSTEM)' -o build/$(SYSTEM_NAME).svg
