# The kernel test program (tests/ktest) outside the scenario set: the kernel benchmark for
# `make bench` and long syscall-fuzzing campaigns for `make fuzz`.
#
#   make bench-kernel                 boot `ktest test=bench`, print the figures and record them in
#                                     docs/benchmarks.md ("## Kernel (make bench)")
#   make fuzz-kernel SEED=7 COUNT=2000000 [FUZZ_SECONDS=600]
#                                     one fuzzing campaign with that seed and call count
#
# Both boot `ktest` as the root task in a copy of the default system's image (build/images/ktest),
# the same way the ktest and syscall-fuzz scenarios do through the harness's `root_program`.

BENCH_TARGETS += bench-kernel
FUZZ_TARGETS += fuzz-kernel

KTEST_ELF := $(USER_BIN_DIR)/ktest
KTEST_IMAGE := build/images/ktest
BENCH_KERNEL_LOG := build/bench-kernel.log
FUZZ_KERNEL_LOG := build/fuzz-kernel.log
# The benchmark takes a few seconds under TCG; the limit only guards against a hang.
BENCH_KERNEL_SECONDS ?= 300
SEED ?= 1
COUNT ?= 1000000
# A million calls take about a minute under TCG; ten times that still fits.
FUZZ_SECONDS ?= 600

.PHONY: ktest-image bench-kernel fuzz-kernel

# The default system's image with the root-task module replaced by ktest.
ktest-image: build
	@$(MAKE) --no-print-directory image-only
	@rm -rf '$(KTEST_IMAGE)'
	@cp -r '$(IMAGE_DIR)' '$(KTEST_IMAGE)'
	@cp '$(KTEST_ELF)' "$(KTEST_IMAGE)/$$(head -n 1 '$(KTEST_IMAGE)/modules')"

# QEMU exits with (status << 1) | 1, so guest status 0 is exit code 1.
bench-kernel: ktest-image
	@status=0; scripts/qemu.sh --seconds $(BENCH_KERNEL_SECONDS) --root-args 'test=bench' '$(KTEST_IMAGE)' \
		> '$(BENCH_KERNEL_LOG)' || status=$$?; \
	grep '^bench:' '$(BENCH_KERNEL_LOG)' || true; \
	if [ "$$status" -ne 1 ]; then \
		echo "bench-kernel: the benchmark did not finish cleanly (exit $$status); log: $(BENCH_KERNEL_LOG)" >&2; exit 1; \
	fi
	@tests/ktest/record-bench.sh '$(BENCH_KERNEL_LOG)' docs/benchmarks.md

fuzz-kernel: ktest-image
	@status=0; scripts/qemu.sh --seconds $(FUZZ_SECONDS) --root-args 'test=fuzz seed=$(SEED) count=$(COUNT)' \
		'$(KTEST_IMAGE)' > '$(FUZZ_KERNEL_LOG)' || status=$$?; \
	grep -E '^(fuzz|ktest):' '$(FUZZ_KERNEL_LOG)' || true; \
	if [ "$$status" -ne 1 ]; then \
		echo "fuzz-kernel: seed $(SEED) failed (exit $$status); log: $(FUZZ_KERNEL_LOG)" >&2; exit 1; \
	fi
