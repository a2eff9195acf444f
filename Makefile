PREFIX ?= /usr/local
CARGO ?= cargo

.PHONY: build deps test test-v2 unit install demo clean

build: deps
	$(CARGO) build --release

deps:
	./scripts/deps.sh

# The whole suite: unit tests, then the integration and conformance tests,
# which run real containers and need root.
test: deps
	@[ "$$(id -u)" = 0 ] || { echo "make test runs containers: run it as root" >&2; exit 1; }
	$(CARGO) test --release -- --test-threads=$${TEST_THREADS:-4}

# cgroup v2 for real: scripts/v2-guest.sh boots a guest kernel whose only
# cgroup hierarchy is v2 (qemu, TCG; the first run downloads the kernel) and
# runs tests/v2/run.sh in it: a proof that the guest is pure v2, a smoke test
# of berth, and the integration tests V2_TESTS selects (libtest arguments:
# names to match, --exact, --skip; empty for all of them), all built here.
# An exit status of 125 means the guest itself failed, which fails too.
#
# Until berth's v2 manager applies device rules, no container starts on v2:
# berth always applies runc's default rules, even without
# linux.resources.devices, and the v2 manager refuses every rule. So for now
# the smoke test fails, and the default here is the tests that pass in the
# guest, those that never reach the cgroup. Then: V2_TESTS=cgroups:: (or all).
V2_TESTS ?= --exact \
	errors::invalid_json errors::missing_rootfs errors::namespace_path_of_the_wrong_type \
	errors::relative_mount_destination errors::systemd_cgroup_flag_is_refused \
	errors::terminal_without_console_socket errors::unknown_namespace_type \
	errors::unsupported_field_is_refused errors::wrong_type \
	lifecycle::delete_force_of_a_missing_container_succeeds lifecycle::log_file_in_json \
	lifecycle::version_names_berth_commit_and_spec mounts::idmap_on_a_non_bind_mount_is_refused

test-v2:
	@[ "$$(id -u)" = 0 ] || { echo "make test-v2 boots a VM and runs containers: run it as root" >&2; exit 1; }
	./scripts/deps.sh v2-guest
	@# One build: berth and the test binaries together (a separate cargo build
	@# would link berth once more, with other dependency features).
	tests=$$($(CARGO) test --release --no-run --message-format=json-render-diagnostics \
	         | jq -r 'select(.profile.test and .target.name == "integration") | .executable') && \
	{ [ -x "$$tests" ] || { echo "make test-v2: cargo built no integration test binary" >&2; exit 1; }; } && \
	./scripts/v2-guest.sh --rw target/v2-guest tests/v2/run.sh target/release/berth "$$tests" $(V2_TESTS)

unit:
	$(CARGO) test --release --bin berth

install: build
	install -D -m 0755 target/release/berth $(DESTDIR)$(PREFIX)/bin/berth

demo: build
	./scripts/demo.sh

clean:
	$(CARGO) clean
	rm -rf demo
