# Multicore (issue 17): network throughput against where the driver and the stack run.
#
#   make bench-placement [PLACEMENT_ROUNDS=5]
#                        boots the default system three times — on a one-core machine, on two
#                        cores with the whole packet path on core 1, and on two cores as
#                        system.toml places it (driver on core 0, stack and applications on
#                        core 1) — and prints the median HTTP 10 MiB download rate of each and
#                        their ratios against one core (scripts/bench-placement.sh)
#
# The kernel's own multicore figures (cross-core round trip and wake-up, shootdown against cores)
# are part of `make bench-kernel` (mk/ktest.mk).

BENCH_TARGETS += bench-placement
PLACEMENT_ROUNDS ?= 5

.PHONY: bench-placement

bench-placement: build
	scripts/bench-placement.sh $(PLACEMENT_ROUNDS)

# The smoke run in `make test`: one download per placement, so the script cannot rot; it fails
# when a placement does not boot, answer HTTP or report its figures.
TEST_TARGETS += test-bench-placement
.PHONY: test-bench-placement
test-bench-placement: build
	@scripts/bench-placement.sh 1 | tee build/bench-placement-smoke.log
	@grep -q '^bench: rate against one core' build/bench-placement-smoke.log || \
		{ echo "test-bench-placement: FAIL: no ratio line (build/bench-placement-smoke.log)" >&2; exit 1; }
	@echo "test-bench-placement: PASS"
