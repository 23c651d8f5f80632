# rowatch: build and demo targets. The tests: scripts/dev.sh test (README.md).
PYTHON ?= /usr/bin/python3

.PHONY: deb rpm man catalog demo

# Debian source and binary packages (dpkg-buildpackage) and lintian, into dist/.
deb:
	scripts/build-deb.sh

# Source and binary RPMs (rpmbuild) and rpmlint, into dist/.
rpm:
	scripts/build-rpm.sh

# Regenerate docs/man/rowatch.8 and docs/man/rowatch.toml.5 from the code.
man:
	$(PYTHON) scripts/gen_man.py --write

# Regenerate packaging/systemd/rowatch.catalog from src/rowatch/messages.py.
catalog:
	$(PYTHON) scripts/gen_catalog.py --write

# As root: a filesystem fails for real and rowatch emails about it (scripts/demo.sh).
demo:
	scripts/demo.sh

# Replay throughput against grep -E on a generated 1M-line syslog, plain and gzip
# (bench/README.md). Writes bench/results/replay_throughput.json; never fails on a slow result.
BENCH_PYTHON ?= python3
.PHONY: bench-replay
bench-replay:
	$(BENCH_PYTHON) bench/replay_throughput.py
