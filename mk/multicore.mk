# Multicore (issue 17): network throughput against where the driver and the stack run.
#
#   make bench-placement [PLACEMENT_ROUNDS=5] [PLACEMENT_LOW_SECONDS=10]
#                        boots the default system three times — on a one-core machine, on two
#                        cores with the whole packet path on core 1, and on two cores as
#                        system.toml places it (driver on core 0, stack and applications on
#                        core 1) — and prints the median HTTP 10 MiB download rate of each, the
#                        guest CPU time one UDP echo costs at low load (100 a second), and their
#                        ratios against one core (scripts/bench-placement.sh)
#
# The kernel's own multicore figures (cross-core round trip and wake-up, shootdown against cores)
# are part of `make bench-kernel` (mk/ktest.mk).

BENCH_TARGETS += bench-placement
PLACEMENT_ROUNDS ?= 5
PLACEMENT_LOW_SECONDS ?= 10

.PHONY: bench-placement

bench-placement: build
	scripts/bench-placement.sh $(PLACEMENT_ROUNDS) $(PLACEMENT_LOW_SECONDS)

# The smoke run in `make test`: one download and 3 s of low load per placement, so the script
# cannot rot; it fails when a placement does not boot, answer HTTP or UDP, or report its figures.
TEST_TARGETS += test-bench-placement
.PHONY: test-bench-placement
test-bench-placement: build
	@scripts/bench-placement.sh 1 3 | tee build/bench-placement-smoke.log
	@grep -q '^bench: rate against one core' build/bench-placement-smoke.log && \
		grep -q '^bench: guest CPU per echo at low load against one core' build/bench-placement-smoke.log || \
		{ echo "test-bench-placement: FAIL: no ratio lines (build/bench-placement-smoke.log)" >&2; exit 1; }
	@echo "test-bench-placement: PASS"
