# The e1000 driver (drivers/e1000) and its tests.
#
#   make test-e1000    the driver's host tests (registers, descriptor rings, data path, settings)
#
# The driver's QEMU scenarios (tests/scenarios/e1000-*.toml) run with the others in
# `make scenarios`; its benchmark is in `make bench` (bench-e1000, below).

USER_PACKAGES += ward-e1000
TEST_TARGETS += test-e1000

.PHONY: test-e1000

# The driver crate builds for the bare-metal target; its library also builds and tests on the host.
test-e1000:
	$(CARGO) test -p ward-e1000 --lib
