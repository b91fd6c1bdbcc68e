# Ward: build, run and test entry points.
#
#   make run [SYSTEM=f.toml] [RUN_SECONDS=N]  build everything and boot a system in QEMU
#   make test                                 host tests, fragment tests, every QEMU scenario
#   make scenario NAME=x | make scenarios     boot one (or several: NAME="a b") / all scenarios
#   make experiments | make experiment NAME=x  the teaching experiments: list / run one, explained
#   make image [SYSTEM=f.toml]                the boot image only, in build/images/<f>
#   make help                                 every target and variable
#
# Each target that needs the Rust bare-metal target or QEMU installs them first when missing
# (scripts/ensure-prereqs.sh). Fragments in mk/*.mk add their own targets and may append to
# USER_PACKAGES, HOST_PACKAGES, TEST_TARGETS, BENCH_TARGETS and FUZZ_TARGETS.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := all
MAKEFLAGS += --no-builtin-rules --no-builtin-variables
.DELETE_ON_ERROR:

# The build below writes to target/ at fixed paths; a CARGO_TARGET_DIR from the environment
# would send the binaries elsewhere and the image step would not find them.
unexport CARGO_TARGET_DIR

CARGO ?= cargo

# --- What to boot -----------------------------------------------------------------------------
# The system description; its image goes to build/images/<file name without .toml>.
SYSTEM ?= system.toml
SYSTEM_NAME = $(basename $(notdir $(SYSTEM)))
IMAGE_DIR = build/images/$(SYSTEM_NAME)
# Extra run-time arguments for `make run` / `make gdb` (scenarios carry their own).
ROOT_ARGS ?=
KERNEL_ARGS ?=
# `make run` and `make gdb` boot the machine the default system describes: VT-d on (DMA and
# interrupt remapping) and the e1000 the network driver is written for, on QEMU's user-mode
# network instead of q35's default NIC. Setting MACHINE or QEMU_ARGS replaces these defaults.
# QEMU's user network forwards host 127.0.0.1:HTTP_PORT to the guest's port 80 and
# 127.0.0.1:ECHO_PORT (TCP and UDP) to port 7; loopback only, never an outside interface.
HTTP_PORT ?= 8080
ECHO_PORT ?= 7007
NET_FORWARDS = hostfwd=tcp:127.0.0.1:$(HTTP_PORT)-:80,hostfwd=tcp:127.0.0.1:$(ECHO_PORT)-:7,hostfwd=udp:127.0.0.1:$(ECHO_PORT)-:7
MACHINE ?= q35,kernel-irqchip=split
QEMU_ARGS ?= -device intel-iommu,intremap=on,caching-mode=on -nic none -netdev user,id=net0,$(NET_FORWARDS) -device e1000,netdev=net0
# `make run PCAP=wire.pcap`: QEMU also records every frame of the NIC's network (netdev net0) to
# that file, in pcap format (Wireshark, `tcpdump -r`). QEMU runs in the image directory, so the
# path is made absolute.
PCAP ?=
PCAP_ARGS = $(if $(PCAP),-object filter-dump$(comma)id=wire$(comma)netdev=net0$(comma)file=$(abspath $(PCAP)))
RUN_SECONDS ?=
# COM2, the serial driver's line: a file by default (`tail -f build/com2.log`), or a loopback
# TCP port to type into (`make run COM2=tcp:4555`, then `nc 127.0.0.1 4555`).
COM2 ?= file
COM2_LOG := $(CURDIR)/build/com2.log
comma := ,
COM2_CHARDEV = $(if $(filter tcp:%,$(COM2)),socket$(comma)id=com2$(comma)host=127.0.0.1$(comma)port=$(patsubst tcp:%,%,$(COM2))$(comma)server=on$(comma)wait=off,file$(comma)id=com2$(comma)path=$(COM2_LOG))
COM2_WHERE = $(if $(filter tcp:%,$(COM2)),127.0.0.1:$(patsubst tcp:%,%,$(COM2)) (nc 127.0.0.1 $(patsubst tcp:%,%,$(COM2))),$(COM2_LOG) (tail -f it; make run COM2=tcp:PORT to type into it))

# --- What to build ----------------------------------------------------------------------------
BARE_TARGET := x86_64-unknown-none
# The kernel gets its own target dir: its RUSTFLAGS differ from the user programs', and sharing
# one dir would rebuild the common crates on every switch.
KERNEL_TARGET_DIR := target/kernel
KERNEL_RUSTFLAGS := -C code-model=kernel -C relocation-model=static
# The kernel alone is built with whole-program optimisation: its hot paths (syscall entry, IPC,
# the scheduler) cross the object-model crate on every step, and inlining across it cuts a
# Call+ReplyRecv round trip by a quarter (docs/benchmarks.md). Its own target dir keeps this
# from touching the user programs' builds.
KERNEL_PROFILE := CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=3
KERNEL_ELF := $(KERNEL_TARGET_DIR)/$(BARE_TARGET)/release/ward-kernel
# Every bare-metal user program (root task, drivers, servers, apps) is a package here.
USER_PACKAGES := ward-root-task ward-hwtest ward-ktest ward-test-components ward-example-uptime ward-serial ward-e1000
USER_BIN_DIR := target/$(BARE_TARGET)/release
ROOT_TASK_ELF := $(USER_BIN_DIR)/root-task
# Host tools the image and test steps run.
HOST_PACKAGES := capctl ward-scenario
CAPCTL ?= target/release/capctl
SCENARIO_RUNNER ?= target/release/ward-scenario
# Extra flags of `capctl build` (e.g. --allow-missing-programs while a program is being written).
CAPCTL_BUILD_FLAGS ?=
# Scenarios run at once (empty: one per core).
JOBS ?=

# --- Filled in by mk/*.mk ---------------------------------------------------------------------
TEST_TARGETS :=
BENCH_TARGETS :=
FUZZ_TARGETS :=

include $(wildcard mk/*.mk)

RUN_OPTS = $(if $(ROOT_ARGS),--root-args '$(ROOT_ARGS)') \
	$(if $(KERNEL_ARGS),--kernel-args '$(KERNEL_ARGS)') \
	$(if $(MACHINE),--machine '$(MACHINE)') \
	$(foreach a,$(QEMU_ARGS) $(PCAP_ARGS),--qemu-arg '$(a)') \
	--qemu-arg -chardev --qemu-arg '$(COM2_CHARDEV)' --qemu-arg -serial --qemu-arg chardev:com2
# Cores of each scenario's machine when the scenario names none: every scenario runs on two
# cores, so the multicore kernel (issue 17) is what every scenario tests; those that need
# another count say `cpus = N` (the ktest-1-core and ktest-4-cores scenarios). Empty: the
# image's own count (system.toml's `[kernel] cpus`).
SCENARIO_CPUS ?= 2
SCENARIO_FLAGS = $(if $(JOBS),--jobs $(JOBS)) $(if $(SCENARIO_CPUS),--cpus $(SCENARIO_CPUS))
# The harness builds each scenario's image with `make image-only`; tell it which make we are.
SCENARIO = MAKE='$(MAKE)' $(SCENARIO_RUNNER) $(SCENARIO_FLAGS)

.PHONY: all prereqs kernel user host build image image-only run gdb \
	test host-test run-check audit scenario scenarios ktest bench fuzz clean help

all: image

prereqs:
	@scripts/ensure-prereqs.sh

# --- Builds (cargo decides what is stale, so these always run) ---------------------------------
kernel: prereqs
	$(KERNEL_PROFILE) RUSTFLAGS='$(KERNEL_RUSTFLAGS)' $(CARGO) build --release --target $(BARE_TARGET) \
		-p ward-kernel --target-dir $(KERNEL_TARGET_DIR)

user: prereqs
	$(CARGO) build --release --target $(BARE_TARGET) $(addprefix -p ,$(USER_PACKAGES))

host:
	$(CARGO) build --release $(addprefix -p ,$(HOST_PACKAGES))

build: kernel user host

image: build
	@$(MAKE) --no-print-directory image-only

# The image step alone, for when kernel, programs and capctl are already built.
# The components' boot modules lose their debug info in the image: the root task reserves a
# component's CNode slots by its module's file size, and debug info would take hundreds of them
# (target/ keeps the full programs for gdb).
image-only:
	@test -n '$(SYSTEM_NAME)' || { echo "SYSTEM is empty" >&2; exit 2; }
	$(CAPCTL) build '$(SYSTEM)' --kernel $(KERNEL_ELF) --root-task $(ROOT_TASK_ELF) \
		--programs $(USER_BIN_DIR) --out '$(IMAGE_DIR)' $(CAPCTL_BUILD_FLAGS)
	@for m in '$(IMAGE_DIR)'/*.elf; do \
		case "$${m##*/}" in kernel.elf|root-task.elf) ;; *) objcopy --strip-debug "$$m" ;; esac; \
	done

# --- Running ----------------------------------------------------------------------------------
run: image
	@mkdir -p build
	@echo "run: COM2, the serial driver's console: $(COM2_WHERE)"
	$(if $(PCAP),@echo "run: recording the NIC's network to $(abspath $(PCAP)) (pcap)")
	@WARD_HTTP_PORT='$(HTTP_PORT)' WARD_ECHO_PORT='$(ECHO_PORT)' \
		scripts/run.sh '$(IMAGE_DIR)' '$(RUN_SECONDS)' -- $(RUN_OPTS)

gdb: image
	@echo "QEMU is halted at reset, waiting for gdb:"
	@echo "  gdb $(KERNEL_ELF) -ex 'target remote localhost:1234'"
	@echo "Quit QEMU with Ctrl-A then X."
	@scripts/qemu.sh --gdb $(RUN_OPTS) '$(IMAGE_DIR)'

# --- Testing ----------------------------------------------------------------------------------
# Every stage runs even when an earlier one failed, so one run shows every failure; the target
# fails at the end if any stage did.
test: prereqs
	@failed=""; \
	$(MAKE) --no-print-directory host-test || failed="$$failed host-test"; \
	for t in $(TEST_TARGETS); do $(MAKE) --no-print-directory $$t || failed="$$failed $$t"; done; \
	$(MAKE) --no-print-directory run-check || failed="$$failed run-check"; \
	$(MAKE) --no-print-directory scenarios || failed="$$failed scenarios"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi

host-test:
	$(CARGO) test --no-fail-fast

# `make run` end to end without a terminal, as the README promises: it must reach the ready line.
# The system is up within a second; the run lasts this long because the system idles until stopped.
RUN_CHECK_SECONDS := 8
run-check: image
	@if scripts/run.sh '$(IMAGE_DIR)' $(RUN_CHECK_SECONDS) </dev/null >/dev/null 2>&1; then \
		echo "run-check: PASS: make run without a terminal reached 'ward: system ready'"; \
	else \
		tail -n 40 build/run.log; echo "run-check: FAIL: see build/run.log" >&2; exit 1; \
	fi

# `make audit`: boot SYSTEM with the root task's capability dump turned on, on a machine with the
# devices the default system names (VT-d and an e1000), and compare the dump with the file:
# `capctl audit` must find 0 differences (it exits non-zero otherwise). The run ends by itself
# half a second after the system is up; the time limit only guards against a hang.
AUDIT_SECONDS := 60
AUDIT_LOG := build/audit.log
AUDIT_RUN_OPTS := --root-args 'audit exit-after=500' --machine 'q35,kernel-irqchip=split' \
	--qemu-arg -device --qemu-arg intel-iommu,intremap=on,caching-mode=on --qemu-arg -device --qemu-arg e1000
audit: image
	@if ! scripts/run.sh '$(IMAGE_DIR)' $(AUDIT_SECONDS) -- $(AUDIT_RUN_OPTS) </dev/null >/dev/null 2>&1; then \
		tail -n 40 build/run.log; echo "audit: FAIL: the system did not come up; see build/run.log" >&2; exit 1; \
	fi
	@cp build/run.log $(AUDIT_LOG)
	$(CAPCTL) audit '$(SYSTEM)' $(AUDIT_LOG)

# Say so before building anything when NAME is missing.
ifneq ($(filter scenario,$(MAKECMDGOALS)),)
ifeq ($(strip $(NAME)),)
$(error usage: make scenario NAME=<name>, with a name from tests/scenarios/ (e.g. NAME=boot))
endif
endif

scenario: build
	$(SCENARIO) $(NAME)

scenarios: build
	$(SCENARIO)

# The in-QEMU kernel conformance suite: the scenarios named ktest*.
ktest: build
	$(SCENARIO) --prefix ktest

bench: prereqs
	$(if $(strip $(BENCH_TARGETS)),@$(MAKE) --no-print-directory $(BENCH_TARGETS),@echo "no benchmarks registered")

fuzz: prereqs
	$(if $(strip $(FUZZ_TARGETS)),@$(MAKE) --no-print-directory $(FUZZ_TARGETS),@echo "no fuzz targets registered")

clean:
	$(CARGO) clean
	rm -rf build

help:
	@echo "Targets:"
	@echo "  run          build everything and boot SYSTEM in QEMU (Ctrl-A X quits)"
	@echo "  test         cargo test, TEST_TARGETS, run-check, then every scenario"
	@echo "  run-check    make run without a terminal must reach 'ward: system ready'"
	@echo "  audit        boot SYSTEM with the capability dump on; capctl audit must find 0 differences"
	@echo "  scenario     boot one scenario: make scenario NAME=boot"
	@echo "  scenarios    boot every scenario in tests/scenarios"
	@echo "  experiments  list the teaching experiments; make experiment NAME=x runs one and explains it"
	@echo "  ktest        the in-QEMU kernel conformance scenarios (ktest*)"
	@echo "  image        build the boot image of SYSTEM into build/images/<name>"
	@echo "  kernel user host   the three cargo builds"
	@echo "  bench fuzz   BENCH_TARGETS / FUZZ_TARGETS"
	@echo "  gdb          boot SYSTEM halted, with a gdb server on :1234"
	@echo "  prereqs      install the Rust target, rust-src and QEMU when missing"
	@echo "  clean        remove target/ and build/"
	@echo "Variables:"
	@echo "  SYSTEM=$(SYSTEM)  RUN_SECONDS=N  ROOT_ARGS=..  KERNEL_ARGS=..  MACHINE=..  QEMU_ARGS=..  PCAP=file  JOBS=N"
	@echo "  HTTP_PORT=$(HTTP_PORT) ECHO_PORT=$(ECHO_PORT)  host ports make run forwards to the guest's 80 and 7"
	@echo "  registered: TEST_TARGETS=[$(strip $(TEST_TARGETS))] BENCH_TARGETS=[$(strip $(BENCH_TARGETS))] FUZZ_TARGETS=[$(strip $(FUZZ_TARGETS))]"
