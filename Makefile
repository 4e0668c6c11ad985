# The two commands of README.md: `make run` and `make test`.
DATA ?= data/sim
SEED ?= 1
COMMANDS ?= 1000000
FSYNC ?= always
JOURNAL ?= data/journal
RECORDS ?= 1000000

.PHONY: deps run node journal-demo test bench build

deps:
	./Tools/install-deps.sh

build: deps
	swift build -c release --product exchange

# The main job: a seeded market simulation through a real node (sequencer, journal with
# fsync, engine) into $(DATA); then the journal is verified and replayed from its start (the
# digest must be the one the simulation printed, every checkpoint checked), and snapshotted.
# $(DATA) is started again on every run (`--replace`, which touches only a directory an earlier
# simulation made; the same seed gives the same journal).
run: build
	.build/release/exchange sim --seed $(SEED) --commands $(COMMANDS) --data $(DATA) --fsync $(FSYNC) --replace
	.build/release/exchange journal verify --journal $(DATA)/journal
	.build/release/exchange journal replay --journal $(DATA)/journal
	.build/release/exchange snapshot create --data $(DATA)
	.build/release/exchange snapshot verify --data $(DATA)

# A node on $(DATA) that takes INTERCHANGE commands on stdin (Ctrl-D or SIGTERM stops it).
node: build
	.build/release/exchange node --data $(DATA) --stdin --fsync $(FSYNC)

# The journal alone: 1M order-like records appended with fsync, verified, described.
journal-demo: build
	.build/release/exchange journal generate --journal $(JOURNAL) --records $(RECORDS) --fsync $(FSYNC)
	.build/release/exchange journal verify --journal $(JOURNAL)
	.build/release/exchange journal info --journal $(JOURNAL)

test: deps
	swift test

bench: deps
	cd Benchmarks && swift package --allow-writing-to-package-directory benchmark
