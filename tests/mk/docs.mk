# `make check-docs`: the documentation a user reads stays usable: both man
# pages clean under `mandoc -Tlint` (warnings and worse), `make install`
# puts the binary and both pages under a fresh PREFIX, and the README stays
# the front door (at most README_MAX_LINES lines; reference lives in the
# man pages and docs/).
README_MAX_LINES ?= 250
MAN_PAGES := docs/pairpick.1 docs/pairpick.yaml.5

.PHONY: check-docs
check-docs: $(BUILD)/pairpick
	@command -v mandoc >/dev/null || { echo "check-docs: mandoc is missing (make deps-test installs it)" >&2; exit 1; }
	@status=0; passed=0; failed=0; \
	for page in $(MAN_PAGES); do \
		out=$$(mandoc -Tlint -W warning $$page 2>&1); \
		if [ -z "$$out" ]; then echo "ok   mandoc -Tlint $$page"; passed=$$((passed + 1)); \
		else echo "FAIL mandoc -Tlint $$page:"; echo "$$out"; failed=$$((failed + 1)); fi; \
	done; \
	prefix=$$(mktemp -d); \
	if $(MAKE) -s install PREFIX=$$prefix >/dev/null \
		&& [ -x $$prefix/bin/pairpick ] && [ -f $$prefix/share/man/man1/pairpick.1 ] \
		&& [ -f $$prefix/share/man/man5/pairpick.yaml.5 ] \
		&& $$prefix/bin/pairpick --version >/dev/null; then \
		echo "ok   make install PREFIX=$$prefix: binary and both man pages"; passed=$$((passed + 1)); \
	else echo "FAIL make install PREFIX=$$prefix"; find $$prefix; failed=$$((failed + 1)); fi; \
	rm -rf $$prefix; \
	lines=$$(wc -l < README.md); \
	if [ $$lines -le $(README_MAX_LINES) ]; then echo "ok   README.md has $$lines lines"; passed=$$((passed + 1)); \
	else echo "FAIL README.md has $$lines lines, more than $(README_MAX_LINES)"; failed=$$((failed + 1)); fi; \
	echo "docs: $$passed passed, $$failed failed"; [ $$failed -eq 0 ]
