# The kernel test program (tests/ktest) outside the scenario set: the kernel benchmark for
# `make bench` and long syscall-fuzzing campaigns for `make fuzz`.
#
#   make bench-kernel                 boot `ktest test=bench` twice, under plain TCG (guest TSC
#                                     cycles) and under -icount shift=0,align=off (guest
#                                     instructions, exact), print the figures and record both in
#                                     docs/benchmarks.md ("## Kernel (make bench)")
#   make profile-kernel KEY=remote    where one figure's instructions go, function by function
#                                     (tests/ktest/profile-bench.py; KEY: null, lookup, local,
#                                     remote, wake; ANNOTATE=function lists its instructions)
#   make fuzz-kernel SEED=7 COUNT=2000000 [FUZZ_SECONDS=600] [CPUS=4]
#                                     one fuzzing campaign with that seed and call count, on
#                                     CPUS cores (default 4: the fuzzer, the heartbeat's two
#                                     threads and the root task spread over them)
#
# Both boot `ktest` as the root task in a copy of the default system's image (build/images/ktest),
# the same way the ktest and syscall-fuzz scenarios do through the harness's `root_program`.

BENCH_TARGETS += bench-kernel
FUZZ_TARGETS += fuzz-kernel

KTEST_ELF := $(USER_BIN_DIR)/ktest
KTEST_IMAGE := build/images/ktest
BENCH_KERNEL_LOG := build/bench-kernel.log
BENCH_KERNEL_ICOUNT_LOG := build/bench-kernel-icount.log
FUZZ_KERNEL_LOG := build/fuzz-kernel.log
# The benchmark takes a few seconds under TCG; the limit only guards against a hang.
BENCH_KERNEL_SECONDS ?= 300
SEED ?= 1
COUNT ?= 1000000
# A million calls take about a minute under TCG; ten times that still fits.
FUZZ_SECONDS ?= 600
CPUS ?= 4

.PHONY: ktest-image bench-kernel profile-kernel fuzz-kernel

# The default system's image with the root-task module replaced by ktest.
ktest-image: build
	@$(MAKE) --no-print-directory image-only
	@rm -rf '$(KTEST_IMAGE)'
	@cp -r '$(IMAGE_DIR)' '$(KTEST_IMAGE)'
	@cp '$(KTEST_ELF)' "$(KTEST_IMAGE)/$$(head -n 1 '$(KTEST_IMAGE)/modules')"

# QEMU exits with (status << 1) | 1, so guest status 0 is exit code 1. The icount run counts every
# guest instruction as one TSC tick, so its figures are instructions and identical from run to run.
# Those two runs use one core (the single-core figures stay comparable with earlier records); a
# third, under plain TCG on BENCH_SMP_CORES cores (icount runs every vCPU in one thread, so its
# cross-core figures would mean nothing), adds the multicore figures: a round trip and a wake-up
# across cores, and the TLB shootdown's cost against the number of cores that must answer.
BENCH_SMP_CORES ?= 4
BENCH_KERNEL_SMP_LOG := build/bench-kernel-smp.log
bench-kernel: ktest-image
	@for mode in tcg icount smp; do \
		case $$mode in \
		icount) log='$(BENCH_KERNEL_ICOUNT_LOG)'; flags='--icount --smp 1' ;; \
		tcg) log='$(BENCH_KERNEL_LOG)'; flags='--smp 1' ;; \
		smp) log='$(BENCH_KERNEL_SMP_LOG)'; flags='--smp $(BENCH_SMP_CORES) --kernel-args cpus=$(BENCH_SMP_CORES)' ;; \
		esac; \
		status=0; scripts/qemu.sh $$flags --seconds $(BENCH_KERNEL_SECONDS) --root-args 'test=bench' \
			'$(KTEST_IMAGE)' > "$$log" || status=$$?; \
		echo "bench-kernel ($$mode):"; grep '^bench:' "$$log" || true; \
		if [ "$$status" -ne 1 ]; then \
			echo "bench-kernel: the $$mode run did not finish cleanly (exit $$status); log: $$log" >&2; exit 1; \
		fi; \
	done
	@tests/ktest/record-bench.sh '$(BENCH_KERNEL_LOG)' '$(BENCH_KERNEL_ICOUNT_LOG)' docs/benchmarks.md

KEY ?= remote
ANNOTATE ?=
profile-kernel: ktest-image
	tests/ktest/profile-bench.py '$(KTEST_IMAGE)' '$(KERNEL_ELF)' '$(KTEST_ELF)' '$(KEY)' \
		$(if $(ANNOTATE),--annotate '$(ANNOTATE)')

fuzz-kernel: ktest-image
	@status=0; scripts/qemu.sh --smp $(CPUS) --kernel-args cpus=$(CPUS) --seconds $(FUZZ_SECONDS) --root-args 'test=fuzz seed=$(SEED) count=$(COUNT)' \
		'$(KTEST_IMAGE)' > '$(FUZZ_KERNEL_LOG)' || status=$$?; \
	grep -E '^(fuzz|ktest):' '$(FUZZ_KERNEL_LOG)' || true; \
	if [ "$$status" -ne 1 ]; then \
		echo "fuzz-kernel: seed $(SEED) failed (exit $$status); log: $(FUZZ_KERNEL_LOG)" >&2; exit 1; \
	fi
