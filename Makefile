# The two quick-start commands (see README.md). Each does its own set-up.
#   make demo   build meshkv and run its demo: three nodes replicating on loopback
#   make test   run the whole test suite (what CI runs after fmt and clippy)
#   make bench  the storage benchmark with its meshkv/raw RocksDB ratios
#   make bench-redis  meshkv side by side with Redis 7 (installs redis-server if missing)

.PHONY: demo test bench bench-redis setup

setup:
	@bash scripts/setup.sh

demo: setup
	cargo run --quiet --bin meshkv -- demo

test: setup
	cargo test --features negative-controls

bench: setup
	cargo bench --bench storage

bench-redis: setup
	bash benches/redis_side_by_side.sh
