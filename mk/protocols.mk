# Shared-memory rings and message formats (protocols/ring, protocols/messages).
#
#   make test-protocols   loom model checks of the ring protocol, the fuzz-corpus replay,
#                         and the bare-metal (x86_64-unknown-none) build of both crates
#   make bench-protocols  criterion: ring throughput and round trips against rtrb,
#                         crossbeam's ArrayQueue and ringbuf; signals per 1,000 items
#   make fuzz-protocols   a bounded cargo-fuzz run of attach/consume and the message decoders
#
# Plain `cargo test` (make host-test) already runs the unit, property, hostile-peer and
# corpus-replay tests. The loom checks are #[ignore]d there: they explore every interleaving
# and want a release build.

TEST_TARGETS += test-protocols
BENCH_TARGETS += bench-protocols
FUZZ_TARGETS += fuzz-protocols

PROTOCOLS_FUZZ_DIR := protocols/ring/fuzz
PROTOCOLS_FUZZ_TARGETS := attach_consume decode_messages
# Seconds per fuzz target: enough to get well past the seeds, short enough for a coffee break.
PROTOCOLS_FUZZ_SECONDS ?= 60

.PHONY: test-protocols bench-protocols fuzz-protocols

test-protocols:
	$(CARGO) test -p ward-ring --release --test loom -- --ignored
	$(CARGO) test -p ward-ring -p ward-proto --test fuzz_corpus
	@rustup target list --installed | grep -qx x86_64-unknown-none || rustup target add x86_64-unknown-none
	$(CARGO) build -p ward-ring -p ward-proto --target x86_64-unknown-none

# About four minutes: short warm-up and measurement times (see benches/spsc.rs), a paired pass, then the
# figures as Markdown tables with ratios to rtrb from the same run.
bench-protocols:
	$(CARGO) bench -p ward-ring --bench spsc
	python3 protocols/ring/benches/summarize.py target/criterion

# cargo-fuzz passes nightly-only flags (-Z sanitizer); RUSTC_BOOTSTRAP lets the stable
# toolchain accept them. New interesting inputs land in the corpus directories, which
# `cargo test` replays (tests/fuzz_corpus.rs in both crates).
fuzz-protocols:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	@for t in $(PROTOCOLS_FUZZ_TARGETS); do \
		echo "fuzz-protocols: $$t for $(PROTOCOLS_FUZZ_SECONDS) s"; \
		(cd $(PROTOCOLS_FUZZ_DIR) && RUSTC_BOOTSTRAP=1 cargo fuzz run $$t corpus/$$t -- \
			-max_total_time=$(PROTOCOLS_FUZZ_SECONDS) -max_len=4096) || exit 1; \
	done
