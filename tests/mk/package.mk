# Packaging: the Debian package, the OCI image, and their test.
#
#   make deb            build/deb/pairpick_$(VERSION)_$(DEB_ARCH).deb (and the
#                       .changes, .buildinfo and -dbgsym .deb beside it)
#   make image          the OCI image pairpick:$(VERSION) in podman's store,
#                       build/image/pairpick_$(VERSION).oci.tar to load elsewhere
#                       and build/image/rootfs.tar, its root filesystem
#   make test-package   tests/package/run.sh: both built, lintian, the .deb in
#                       a fresh Debian 12 root, real runs there and in the image
#
# dpkg-buildpackage writes its results to the parent folder of the source
# tree, so `make deb` builds in a copy of the tree at
# build/deb/pairpick-$(VERSION)/ (removed afterwards): the results land in
# build/deb/ and the tree itself stays clean. DEB_BUILD_OPTIONS passes
# through (nocheck skips the unit tests the package build runs).
#
# `make image` (tests/package/image.sh) makes the root with mmdebstrap
# (Debian 12 minbase from the Debian archive), installs the .deb with apt
# inside it, adds the non-root user and imports it with podman. The minbase
# root and the .debs apt downloads are kept in PACKAGE_CACHE, so a second
# build runs neither mmdebstrap nor a download. docs/Dockerfile builds the
# same image with docker.

# Kept outside the clone when the machine lets us (root: /var/cache), so a
# fresh clone on the same machine (CI) reuses it; else under build/.
PACKAGE_CACHE ?= $(shell [ -w /var/cache ] && echo /var/cache/pairpick-test || echo build/cache/apt)
export PACKAGE_CACHE
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_FILE := build/deb/pairpick_$(VERSION)_$(DEB_ARCH).deb
DEB_CHANGELOG_VERSION = $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
# Everything the package is built from.
DEB_INPUTS := $(shell find job sql config docs debian tests/tools -type f 2>/dev/null) \
	Makefile VERSION README.md CHANGELOG.md LICENSE

.PHONY: deb image test-package

deb: $(DEB_FILE)

$(DEB_FILE): $(DEB_INPUTS)
	@[ "$(DEB_CHANGELOG_VERSION)" = "$(VERSION)" ] || { \
		echo "deb: debian/changelog is at $(DEB_CHANGELOG_VERSION), VERSION says $(VERSION)" >&2; \
		echo "HINT: add a debian/changelog entry for $(VERSION) (dch -v $(VERSION))" >&2; exit 1; }
	rm -rf build/deb
	mkdir -p build/deb/pairpick-$(VERSION)
	tar -c --exclude=./build --exclude=./.git --exclude=./demo-out -f - . \
		| tar -x -C build/deb/pairpick-$(VERSION)
	cd build/deb/pairpick-$(VERSION) && dpkg-buildpackage -us -uc -b
	rm -rf build/deb/pairpick-$(VERSION)
	@ls build/deb

# Built again when the .deb or the script changes; loaded into podman's
# store again from the archive when the image was removed from it.
IMAGE_FILE := build/image/pairpick_$(VERSION).oci.tar

image: $(IMAGE_FILE)
	@podman image exists localhost/pairpick:$(VERSION) || podman load -q -i $(IMAGE_FILE)
	@echo "image: pairpick:$(VERSION) ($(IMAGE_FILE))"

$(IMAGE_FILE): $(DEB_FILE) tests/package/image.sh
	tests/package/image.sh $(DEB_FILE) $(VERSION) $(PACKAGE_CACHE)

test-package:
	tests/package/run.sh
