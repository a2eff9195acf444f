PREFIX ?= /usr/local
CARGO ?= cargo

.PHONY: build deps test unit install demo clean

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

clean:
	$(CARGO) clean
	rm -rf demo
