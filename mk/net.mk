# The network stack and its applications (servers/net, apps/echo, apps/http).
#
#   make test-net    the default system in QEMU with real host clients (curl, Python sockets) on
#                    free loopback ports and a raw-frame socket: tests/net/net_tests.py
#   make bench-net-stack   the same boot, printing UDP round trips, TCP throughput each way, the
#                    HTTP transfer of /bench/10MiB and boot to first reply; then a boot under
#                    icount printing instructions per packet by component
#
# Their libraries are default workspace members, so `cargo test` (make host-test) runs their host
# tests: two stacks over in-memory rings, malformed frames, the bench services and the HTTP server
# driven against the real stack.

USER_PACKAGES += ward-net ward-echo ward-http
TEST_TARGETS += test-net
BENCH_TARGETS += bench-net-stack

.PHONY: test-net bench-net-stack

test-net: image
	python3 tests/net/net_tests.py --image '$(IMAGE_DIR)'

bench-net-stack: image
	python3 tests/net/net_tests.py --image '$(IMAGE_DIR)' --bench
	python3 tests/net/net_tests.py --image '$(IMAGE_DIR)' --breakdown
