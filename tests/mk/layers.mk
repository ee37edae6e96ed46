# Layer checks over job/ (tests/layers/check.sh): libpq only in job/db/, no
# include cycle between modules, lower layers never including higher ones,
# and the poison headers of tests/layers/poison stopping a libpq or libyaml
# include in job/core and job/numeric.
#
#   make check-layers       all five checks, one ok/FAIL line each
#   make print-cc, print-cflags, print-pure-cflags
#                           the compiler and its flags for the library and
#                           for job/core and job/numeric, as shell words

.PHONY: check-layers print-cc print-cflags print-pure-cflags

check-layers:
	@MAKE='$(MAKE)' BUILD='$(BUILD)' tests/layers/check.sh

print-cc:
	$(info $(CC))
	@:

print-cflags:
	$(info $(ALL_CFLAGS))
	@:

print-pure-cflags:
	$(info $(PURE_CFLAGS))
	@:
