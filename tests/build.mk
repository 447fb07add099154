# tests/: test services (apps/), unit tests (unit/); scripts need no build.
include tests/apps/build.mk
include tests/probes/build.mk
include tests/unit/build.mk
include tests/bench/minimal/build.mk
