# The network stack and its applications (servers/net, apps/echo, apps/http).
#
# Their libraries are default workspace members, so `cargo test` (make host-test) runs their
# host tests: two stacks over in-memory rings, malformed frames, the bench services and the
# HTTP server driven against the real stack. The component programs are built here for the
# bare-metal target with the other user programs.

USER_PACKAGES += ward-net ward-echo ward-http
STRIP_PROGRAMS += net echo http
