# Teaching experiments (tests/experiments, docs/tutorial.md): each boots a prepared variant of the
# system, runs its host steps, judges the claim its explanation makes, and explains what happened.
#
#   make experiments            list them, one line each
#   make experiment NAME=x      run one and print its explanation
#   make test-experiments       every experiment's own runs in their quick variants (make test);
#                               runs borrowed from tests/scenarios run in `make scenarios`

TEST_TARGETS += test-experiments
EXPERIMENT_OUT := build/experiments

.PHONY: experiments experiment test-experiments

# Say so before building anything when NAME is missing.
ifneq ($(filter experiment,$(MAKECMDGOALS)),)
ifeq ($(strip $(NAME)),)
$(error usage: make experiment NAME=<name>; `make experiments` lists them)
endif
endif

experiments: host
	@echo "Experiments (make experiment NAME=<name>; docs/tutorial.md walks through them):"
	@$(SCENARIO_RUNNER) --experiments

experiment: build
	@$(SCENARIO) --out $(EXPERIMENT_OUT) --experiment $(NAME)

test-experiments: build
	$(SCENARIO) --dir tests/experiments/runs --quick --out $(EXPERIMENT_OUT)
