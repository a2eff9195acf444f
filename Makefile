PREFIX ?= /usr/local
CARGO ?= cargo
# A static executable needs an explicit target (.cargo/config.toml).
BIN := target/x86_64-unknown-linux-gnu/release/berth

.PHONY: build deps lint test test-host test-v2 test-systemd unit install demo bench bench-v2 symbol-order fuzz clean

build: deps
	$(CARGO) build --release

deps:
	./scripts/deps.sh

# Formatting and lints, as CI checks them before the tests (.ci/run).
lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --profile cri-client -p berth-cri-client -- -D warnings

# The whole suite: unit, integration and conformance tests on this host
# (real containers, as root), then the integration tests again in a pure
# cgroup v2 guest, then the systemd driver under a real systemd. The two
# guests run one after the other: each is CPU-bound under TCG and uses both
# cores, so running them side by side saves no time on these machines.
test: test-host test-v2 test-systemd

test-host: deps
	@[ "$$(id -u)" = 0 ] || { echo "make test runs containers: run it as root" >&2; exit 1; }
	$(CARGO) build --release --tests
	@# tests/clients drives containerd's CRI plugin with this client (its own
	@# crate: tokio and tonic stay out of berth's build).
	$(CARGO) build --profile cri-client -p berth-cri-client
	./scripts/subreaper $(CARGO) test --release -- --test-threads=$${TEST_THREADS:-4}; s=$$?; \
	  for h in /sys/fs/cgroup/*/berth-compat /sys/fs/cgroup/berth-compat; do [ -d "$$h" ] && rmdir "$$h" 2>/dev/null; done; exit $$s

# cgroup v2 for real: scripts/v2-guest.sh boots a guest kernel whose only
# cgroup hierarchy is v2 (qemu, TCG; the first run downloads the kernel) and
# runs tests/v2/run.sh in it: a proof that the guest is pure v2, a smoke test
# of berth, the integration tests V2_TESTS selects (libtest arguments:
# names to match, --exact, --skip; empty for all of them), then the client
# tests whose names hold V2_CLIENTS (containerd: ctr and the CRI plugin;
# empty for none), all built here. An exit status of 125 means the guest
# itself failed, which fails too. The guest's bound covers run.sh's two
# (integration and clients, 1500 s each).
V2_TESTS ?=
V2_CLIENTS ?= containerd

# The whole checkout goes into the guest read-write at its own path: the
# guest hides the host's /tmp and /run, where a CI clone may well be.
test-v2:
	@[ "$$(id -u)" = 0 ] || { echo "make test-v2 boots a VM and runs containers: run it as root" >&2; exit 1; }
	./scripts/deps.sh v2-guest
	@# One build: berth and the test binaries together (a separate cargo build
	@# would link berth once more, with other dependency features); the CRI
	@# client in its own profile, as test-host builds it.
	bins=$$($(CARGO) test --release --no-run --message-format=json-render-diagnostics \
	         | jq -r 'select(.profile.test and (.target.name == "integration" or .target.name == "clients")) | "\(.target.name) \(.executable)"') && \
	tests=$$(echo "$$bins" | awk '$$1 == "integration" { print $$2 }') && \
	clients=$$(echo "$$bins" | awk '$$1 == "clients" { print $$2 }') && \
	{ [ -x "$$tests" ] || { echo "make test-v2: cargo built no integration test binary" >&2; exit 1; }; } && \
	{ [ -x "$$clients" ] || { echo "make test-v2: cargo built no clients test binary" >&2; exit 1; }; } && \
	$(CARGO) build --profile cri-client -p berth-cri-client && \
	mkdir -p target/v2-guest && V2G_TIMEOUT=$${V2G_TIMEOUT:-3300} ./scripts/v2-guest.sh --rw "$(CURDIR)" tests/v2/run.sh \
	  $(if $(V2_CLIENTS),--clients "$$clients" "$(V2_CLIENTS)") $(BIN) "$$tests" $(V2_TESTS)

# Under systemd: scripts/v2-guest.sh --systemd boots the same guest kernel
# with the host's own systemd as PID 1 (pure cgroup v2, only the guest's
# v2g.target started) and runs tests/systemd/run.sh from a unit, all tests in
# that one boot: the ground (PID 1, pure v2, the bus), then berth
# --systemd-cgroup checked through systemctl and the cgroup files, then its
# clients, with containerd's CRI plugin driven by the tests/clients binary.
# Built as test-v2 builds (the same berth, no second link).
test-systemd: deps
	@[ "$$(id -u)" = 0 ] || { echo "make test-systemd boots a VM and runs containers: run it as root" >&2; exit 1; }
	./scripts/deps.sh systemd-guest
	clients=$$($(CARGO) test --release --no-run --message-format=json-render-diagnostics \
	           | jq -r 'select(.profile.test and .target.name == "clients") | .executable') && \
	{ [ -x "$$clients" ] || { echo "make test-systemd: cargo built no clients test binary" >&2; exit 1; }; } && \
	$(CARGO) build --profile cri-client -p berth-cri-client && \
	./scripts/v2-guest.sh --systemd --rw "$(CURDIR)" tests/systemd/run.sh $(CURDIR)/$(BIN) "$$clients"

unit:
	$(CARGO) test --release --lib --bin berth

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/berth

demo: build
	BERTH=$(BIN) ./scripts/demo.sh

# berth side by side with Debian's runc (and crun on a pure cgroup v2 host):
# a table of medians, min/max and berth/runc per workload, also written to
# target/bench/latest.txt. BENCH_QUICK=1 runs a few iterations of each, only
# to check that it works.
bench: build
	@[ "$$(id -u)" = 0 ] || { echo "make bench runs containers: run it as root" >&2; exit 1; }
	./scripts/deps.sh bench
	BERTH=$(BIN) ./scripts/bench.py

# The same in the pure cgroup v2 guest of test-v2, where crun runs too; the
# table goes to target/bench/latest-v2.txt. Under the guest's TCG everything
# is 5-10x slower, hence fewer iterations (BENCH_V2_SCALE of the full mode's,
# and 20 containers for state and list): only its ratios mean anything. The
# checkout goes in read-write, as for test-v2, so that the table comes back.
BENCH_V2_SCALE ?= 0.15
bench-v2: build
	@[ "$$(id -u)" = 0 ] || { echo "make bench-v2 boots a VM and runs containers: run it as root" >&2; exit 1; }
	./scripts/deps.sh bench-v2
	mkdir -p target/bench && ./scripts/v2-guest.sh --rw "$(CURDIR)" env BERTH=$(CURDIR)/$(BIN) $${RUNC:+RUNC="$$RUNC"} $${CRUN:+CRUN="$$CRUN"} \
	  BENCH_SCALE=$(BENCH_V2_SCALE) BENCH_OUT=$(CURDIR)/target/bench/latest-v2.txt ./scripts/bench.py

# src/symbol-order.txt: the functions berth's commands run, traced through a
# real lifecycle, so the linker groups them (less text mapped per command).
# Run again after changing the toolchain or the dependencies.
symbol-order:
	@[ "$$(id -u)" = 0 ] || { echo "make symbol-order runs containers: run it as root" >&2; exit 1; }
	./scripts/symbol-order.py

# The config loader under libFuzzer for FUZZ_SECONDS (cargo install
# cargo-fuzz first; RUSTC_BOOTSTRAP lets the stable toolchain take its -Z flags).
fuzz:
	mkdir -p fuzz/corpus/config
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run config corpus/config seeds -- -max_total_time=$${FUZZ_SECONDS:-60}

clean:
	$(CARGO) clean
	rm -rf demo
