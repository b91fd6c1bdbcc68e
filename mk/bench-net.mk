# Ward side by side with a Linux guest on the same QEMU machine (tests/bench-net, docs/bench-net.md).
#
#   make bench-net        every configuration over BENCH_NET_ROUNDS rounds, one QEMU at a time;
#                         prints `bench-net: <metric>: ward X, linux Y, ratio Z` and the goals, and
#                         records the figures and plots in docs/benchmarks.md ("## Network: ...")
#   make test-bench-net   the smoke run of `make test`: one round, small sizes (about a minute)
#   make linux-peer       the Linux peer alone, from Debian packages, in build/linux-peer
#
# The Linux peer's packages are downloaded once and kept in build/linux-peer/debs; the initramfs
# is rebuilt when its sources change. Ward boots from its normal image (make image) and its IPC
# figure comes from the kernel benchmark image (make ktest-image).

HOST_PACKAGES += ward-bench-net
TEST_TARGETS += test-bench-net

BENCH_NET := target/release/ward-bench-net
LINUX_PEER_DIR := build/linux-peer
LINUX_PEER_IMAGE := $(LINUX_PEER_DIR)/image
LINUX_PEER_SOURCES := scripts/linux-peer.sh $(wildcard tests/bench-net/linux-peer/*.c)
BENCH_NET_ROUNDS ?= 3
BENCH_NET_DOC ?= docs/benchmarks.md
# Every Ward figure is required (--ward-required): a Ward run that does not answer the bench
# service contract fails the benchmark, in `make test` as in `make bench-net`.
BENCH_NET_FLAGS = --ward-image '$(IMAGE_DIR)' --ktest-image '$(KTEST_IMAGE)' --linux-image '$(LINUX_PEER_IMAGE)' \
	--ward-required

.PHONY: linux-peer bench-net test-bench-net

linux-peer: $(LINUX_PEER_IMAGE)/versions

$(LINUX_PEER_IMAGE)/versions: $(LINUX_PEER_SOURCES)
	scripts/linux-peer.sh '$(LINUX_PEER_DIR)'

bench-net: ktest-image linux-peer
	$(BENCH_NET) $(BENCH_NET_FLAGS) --rounds $(BENCH_NET_ROUNDS) --out build/bench-net --record '$(BENCH_NET_DOC)'

test-bench-net: ktest-image linux-peer
	$(BENCH_NET) $(BENCH_NET_FLAGS) --smoke --out build/bench-net-smoke
