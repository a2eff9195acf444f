PREFIX ?= /usr/local
CARGO ?= cargo

.PHONY: build deps test unit install demo bench fuzz clean

build: deps
	$(CARGO) build --release

deps:
	./scripts/deps.sh

# The whole suite: unit tests, then the integration and conformance tests,
# which run real containers and need root.
test: deps
	@[ "$$(id -u)" = 0 ] || { echo "make test runs containers: run it as root" >&2; exit 1; }
	$(CARGO) build --release --tests
	./scripts/subreaper $(CARGO) test --release -- --test-threads=$${TEST_THREADS:-4}

unit:
	$(CARGO) test --release --bin berth

install: build
	install -D -m 0755 target/release/berth $(DESTDIR)$(PREFIX)/bin/berth

demo: build
	./scripts/demo.sh

# berth side by side with Debian's runc: a table of medians, min/max and
# berth/runc per workload, also written to target/bench/latest.txt.
# BENCH_QUICK=1 runs a few iterations of each, only to check that it works.
bench: build
	@[ "$$(id -u)" = 0 ] || { echo "make bench runs containers: run it as root" >&2; exit 1; }
	@need=""; [ -n "$$RUNC" ] || [ -x /usr/sbin/runc ] || need="$$need runc"; \
	[ -x /usr/bin/time ] || need="$$need time"; \
	[ -z "$$need" ] || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$need; }
	./scripts/bench.py

# The config loader under libFuzzer for FUZZ_SECONDS (cargo install
# cargo-fuzz first; RUSTC_BOOTSTRAP lets the stable toolchain take its -Z flags).
fuzz:
	mkdir -p fuzz/corpus/config
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run config corpus/config seeds -- -max_total_time=$${FUZZ_SECONDS:-60}

clean:
	$(CARGO) clean
	rm -rf demo
