# The two commands of README.md: `make run` and `make test`.
JOURNAL ?= data/journal
RECORDS ?= 1000000
FSYNC ?= always

.PHONY: deps run test bench build

deps:
	./Tools/install-deps.sh

build: deps
	swift build -c release --product exchange

# The main job for now: append a seeded order-like workload to a local journal with group
# commit and fsync, then check every block and chain hash and show what is on disk.
run: build
	.build/release/exchange journal generate --journal $(JOURNAL) --records $(RECORDS) --fsync $(FSYNC)
	.build/release/exchange journal verify --journal $(JOURNAL)
	.build/release/exchange journal info --journal $(JOURNAL)

test: deps
	swift test

bench: deps
	cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --target JournalBenchmarks
