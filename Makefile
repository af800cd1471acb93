# edgescrape: the two commands a user needs are `make run` and `make test`.

CARGO ?= cargo

.PHONY: run test bench lint peers build

build:
	$(CARGO) build --release

## run: build and scrape the demo config (conf/prometheus.yml), storing under data/
run: build
	./target/release/edgescrape --config.file=conf/prometheus.yml --storage.path=data --web.listen-address=127.0.0.1:9099

## peers: install the real programs the tests run against (Debian packages)
peers:
	./scripts/install-peers.sh

## test: every test, including those against real Prometheus, vmagent and node_exporter
test: peers
	$(CARGO) test --all-targets --no-fail-fast

## bench: edgescrape, vmagent and Prometheus's agent side by side on the same
## targets (benches/system/; ~7 min a scenario, BENCH_* variables shorten or
## choose, see its module doc), report in bench/RESULTS.md. The criterion
## benchmarks of the hot paths: cargo bench --bench NAME.
bench: peers
	$(CARGO) bench --bench system

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

.PHONY: dist dist-test dist-vm-test

## dist: release binaries and .deb packages for x86_64, aarch64 and armv7 in target/dist/
dist:
	./scripts/dist.sh

## dist-test: the ARM binaries run under qemu-user, the packages checked, the x86_64 one installed and run
dist-test: dist
	./scripts/dist-test.sh

## dist-vm-test: the aarch64 binary on an emulated aarch64 machine (qemu-system, Debian's kernel); also part of dist-test
dist-vm-test: dist
	./scripts/dist-vm-test.sh
