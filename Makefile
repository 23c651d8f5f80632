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

# Benchmarks (bench/README.md): each writes bench/results/*.json and prints a table; none
# fails on a slow result. As root on a real kernel (loop devices, /dev/kmsg, journald),
# except bench-replay. BENCH_PYTHON: an interpreter with rowatch and its test extras, e.g.
# .venv-debian/bin/python after scripts/dev.sh setup.
BENCH_PYTHON ?= python3
.PHONY: bench bench-replay bench-latency bench-idle bench-flood
bench: bench-latency bench-flood bench-idle bench-replay

# Replay throughput against grep -E on a generated 1M-line syslog, plain and gzip.
bench-replay:
	$(BENCH_PYTHON) bench/replay_throughput.py

# Kernel record -> SMTP 250, kmsg and journal sources, 100 rounds each (about 10 minutes).
bench-latency:
	$(BENCH_PYTHON) bench/alert_latency.py

# CPU, wake-ups and memory over 10 quiet minutes.
bench-idle:
	$(BENCH_PYTHON) bench/idle_cost.py

# A real EIO flood, 10,000 forged records/s, and the in-process ceiling (about 12 minutes).
bench-flood:
	$(BENCH_PYTHON) bench/flood.py
