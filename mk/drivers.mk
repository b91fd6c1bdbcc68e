# Drivers (drivers/*): each is a component program (a no_std binary, built for
# x86_64-unknown-none by `make user`) with its hardware-free logic in the same
# package's library, which the host tests here.
#
#   make test-drivers   the drivers' library tests on the host

TEST_TARGETS += test-drivers

# Driver packages whose libraries have host tests. A driver package is not a
# workspace default member: its binary needs the bare-metal runtime.
DRIVER_PACKAGES := ward-serial ward-e1000

.PHONY: test-drivers

test-drivers:
	$(CARGO) test --lib $(addprefix -p ,$(DRIVER_PACKAGES))
