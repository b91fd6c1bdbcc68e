# The e1000 driver (drivers/e1000): its benchmark. The driver is built by `make user` and its
# library's host tests run in `make test-drivers` (mk/drivers.mk); its QEMU scenarios
# (tests/scenarios/e1000-*.toml) run with the others in `make scenarios`.

# --- Benchmark --------------------------------------------------------------------------------
#
#   make bench-e1000   frames per second through the frame reflector, interrupts per 1,000 frames
#                      and the driver's CPU time per frame at 64 and 1518 bytes (FCS included):
#                      once under plain TCG (rates), once under -icount shift=0 (where a TSC tick
#                      is one guest instruction, so the driver's CPU time is its instruction
#                      count). The figures are printed and kept in build/bench-e1000.txt.

BENCH_TARGETS += bench-e1000
BENCH_E1000_OUT := build/bench-e1000

.PHONY: bench-e1000

bench-e1000: build
	@$(MAKE) --no-print-directory image-only SYSTEM=tests/systems/e1000-reflector.toml
	@status=0; $(SCENARIO_RUNNER) --no-build --jobs 1 --dir tests/e1000/bench --out $(BENCH_E1000_OUT) || status=$$?; \
	cat $(BENCH_E1000_OUT)/*.peer.log | grep '^bench:' | tee build/bench-e1000.txt; exit $$status
