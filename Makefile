# Two commands: `make run` and `make test` set everything up themselves on a fresh Debian machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)
APT_TEST := sip-tester baresip sipvicious iproute2
APT_BENCH := sip-tester kamailio iproute2 util-linux

.PHONY: run test lint unit wire bench tools tools-bench check-config clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m pbx run --config config --data var

check-config: $(STAMP)
	$(BIN)/python -m pbx check-config --config config

# System tools for the wire tests (SIPp, baresip, sipvicious); CI runs as root.
tools:
	@if ! command -v sipp >/dev/null || ! command -v baresip >/dev/null || ! command -v unshare >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_TEST); \
	  else echo "tools: not root, cannot apt-get install $(APT_TEST); wire tests will be skipped"; fi; \
	fi

tools-bench:
	@if ! command -v sipp >/dev/null || ! command -v kamailio >/dev/null || ! command -v taskset >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_BENCH); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check pbx tests scripts/gen-config scripts/bench scripts/bench-media scripts/bench-queue scripts/profile-call
	$(BIN)/ruff format --check pbx tests
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/integration

# Everything, wire tests included, inside a network namespace that has only loopback.
test: $(STAMP) tools lint
	scripts/in-netns $(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP) tools-bench
	scripts/in-netns $(BIN)/python scripts/bench
	$(BIN)/python scripts/bench --calls  # installs sippy first, then enters the loopback namespace itself
	scripts/in-netns $(BIN)/python scripts/bench-media
	scripts/in-netns $(BIN)/python scripts/bench-queue
	$(BIN)/python scripts/bench-acd

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
