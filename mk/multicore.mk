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
