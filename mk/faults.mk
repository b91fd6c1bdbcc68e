# Fault campaigns against the network (tests/faults/campaign.py; docs/reliability.md says what
# is injected, how it is detected and what the figures mean).
#
#   make faults [SEED=n] [COUNT=m] [KINDS=k+k..|all|supervisor|driver] [TARGETS=e1000+net+echo] [MINUTES=t]
#                    the long campaign: tests/systems/faults.toml in QEMU, COUNT faults (default
#                    100,000) into TARGETS (default e1000) on the seeded schedule SEED, with
#                    hash-checked TCP streams and UDP echoes from the host throughout; a progress
#                    line every 5 s, the table per kind, and the results line last. The table is
#                    written to docs/reliability.md with the seed and the command that repeats it.
#   make test-faults the short campaign of `make test`: over 1,000 faults of every kind into the
#                    e1000 driver, in about four minutes; fails on a kernel crash, a corrupted
#                    byte, a stack crash caused by the driver, a campaign that does not finish, or
#                    no traffic getting through (connections broken are counted and reported).

TEST_TARGETS += test-faults

FAULTS_SYSTEM := tests/systems/faults.toml
FAULTS_IMAGE := build/images/faults
FAULTS_REPORT := docs/reliability.md
# COUNT and SEED are shared with `make fuzz-kernel` (mk/ktest.mk), whose default COUNT is a
# million calls: a campaign takes them from the command line or the environment only.
FAULTS_DEFAULT_COUNT := 100000
faults_given = $(if $(filter command line environment,$(origin $(1))),$($(1)),$(2))
KINDS ?= all
TARGETS ?= e1000
# MINUTES=n: stop after n minutes and report the faults done by then.
MINUTES ?=
# The short campaign: every kind about forty times, within the five minutes `make test` allows
# it. A schedule asks for a few faults that cannot be put in (a stack flip while the stack
# pointer is elsewhere: "not injected"), so it asks for more than the 1,000 it must inject.
TEST_FAULTS_COUNT := 1030
TEST_FAULTS_SEED := 1

.PHONY: faults test-faults faults-image

faults-image: build
	@python3 tests/faults/check-system.py system.toml $(FAULTS_SYSTEM)
	@$(MAKE) --no-print-directory image-only SYSTEM=$(FAULTS_SYSTEM)

faults: faults-image
	python3 tests/faults/campaign.py --image $(FAULTS_IMAGE) \
		--seed $(call faults_given,SEED,1) --count $(call faults_given,COUNT,$(FAULTS_DEFAULT_COUNT)) \
		--kinds '$(KINDS)' --targets '$(TARGETS)' $(if $(MINUTES),--minutes $(MINUTES)) \
		--report $(FAULTS_REPORT) --require

test-faults: faults-image
	python3 tests/faults/campaign.py --image $(FAULTS_IMAGE) --seed $(TEST_FAULTS_SEED) \
		--count $(TEST_FAULTS_COUNT) --kinds all --targets e1000 --require
