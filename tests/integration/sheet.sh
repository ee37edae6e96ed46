#!/usr/bin/env bash
# Integration tests of `pairpick sample`, the contact sheet: image files
# confined to source.image_root, copies never more readable than their
# source, nothing written through links planted in the output folder, and
# the page itself checked in headless Chromium (thumbnails load, index
# links find their sections, the folder still works once moved), with a
# screenshot kept. Usage: sheet.sh [test_name ...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Screenshots outlive $WORK (removed at the end) here.
ARTIFACTS=${PAIRPICK_ARTIFACTS:-$ROOT/build/test-artifacts}

# A config for the demo images; $1 job, then extra YAML lines under source:.
demo_config() {
    local job=$1
    shift
    write_config "$job" <<YAML
job: $job
source:
  table: demo.images
  id: job_uuid
  score: score
  variance: score_variance
  date: created_at
  category: topic
  embedding: clip_embedding
$(printf '  %s\n' "$@")
strategy:
  by: embedding
  clusters: 30
  kmeans: {algorithm: minibatch, n_init: 2, metric: cosine}
  max_pairs: 300
  seed: 5
output:
  table: t_$job
YAML
}

# Runs headless Chromium on a page: $1 a file:// URL, then its own options.
chromium_run() {
    local url=$1
    shift
    command -v chromium >/dev/null || fail "chromium is not installed (make deps-test installs it)"
    rm -rf "$WORK/chromium"
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$WORK/chromium" "$@" "$url" 2>>"$WORK/chromium.log" || true
}

# The body attribute $2 of the DOM dump $1 (set by the sheet's load script).
dom_attribute() {
    grep -o "$2=\"[0-9]*\"" "$1" | grep -o '[0-9]*' || echo 0
}

# The sanitized pass (make test-sanitize) checks pairpick's memory, and
# Chromium runs none of pairpick's code: it loads the pages only for the
# plain binary, which writes the same pages.
SANITIZED=0
if pairpick_is_sanitized; then
    SANITIZED=1
fi

# Loads the sheet at $1 in Chromium: every thumbnail loads and every index
# link finds its section; $2 the least number of thumbnails expected.
expect_sheet_loads() {
    local sheet=$1 least=$2
    if [ "$SANITIZED" = 1 ]; then
        echo "    chromium: not run for the sanitized binary ($sheet)"
        return 0
    fi
    chromium_run "file://$sheet/index.html" --virtual-time-budget=5000 --dump-dom >"$WORK/dom.html"
    local loaded total found links
    loaded=$(dom_attribute "$WORK/dom.html" data-images-loaded)
    total=$(dom_attribute "$WORK/dom.html" data-images-total)
    found=$(dom_attribute "$WORK/dom.html" data-anchors-found)
    links=$(dom_attribute "$WORK/dom.html" data-anchors-total)
    echo "    chromium: $loaded of $total thumbnails loaded, $found of $links index links resolve ($sheet)"
    [ "$total" -ge "$least" ] && [ "$loaded" -eq "$total" ] || fail "thumbnails loaded: $loaded of $total"
    [ "$links" -ge 1 ] && [ "$found" -eq "$links" ] || fail "index links resolved: $found of $links"
}

# Every href and src of the sheet at $1 names a file in its folder.
expect_links_resolve() {
    local sheet=$1 url bad=0
    for url in $(grep -o '\(href\|src\)="[^"#][^"]*"' "$sheet/index.html" | sed 's/^[a-z]*="//; s/"$//' | sort -u); do
        [ -f "$sheet/$(printf '%b' "${url//%/\\x}")" ] || { echo "    not there: $url"; bad=$((bad + 1)); }
    done
    expect_eq "$bad" 0 "links of the sheet that lead nowhere"
}

# A small table of its own: images in $WORK/root, and paths that lead out of it.
confine_setup() {
    rm -rf "$WORK/root" "$WORK/outside" "$WORK/root-other"
    mkdir -p "$WORK/root/images" "$WORK/root/private" "$WORK/outside"
    for name in a b c d; do
        printf '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>\n' >"$WORK/root/images/$name.svg"
    done
    echo "SECRET-OUTSIDE" >"$WORK/outside/secret.svg"
    chmod 0600 "$WORK/root/images/a.svg"
    chmod 0640 "$WORK/root/images/b.svg"
    chmod 0755 "$WORK/root/images/c.svg"
    ln -s ../../outside/secret.svg "$WORK/root/images/link-out.svg"
    ln -s a.svg "$WORK/root/images/link-in.svg"
    mkfifo "$WORK/root/images/pipe.svg"
    sql "DROP TABLE IF EXISTS sheet_img;
         CREATE TABLE sheet_img (id text PRIMARY KEY, score float8, topic text, path text);
         INSERT INTO sheet_img VALUES
           ('a', 0.1, 'x', 'images/a.svg'),
           ('b', 0.2, 'x', 'images/b.svg'),
           ('c', 0.3, 'x', 'images/c.svg'),
           ('d', 0.4, 'x', '$WORK/root/images/d.svg'),
           ('in', 0.5, 'x', 'images/link-in.svg'),
           ('abs', 0.6, 'x', '$WORK/outside/secret.svg'),
           ('up', 0.7, 'x', '../outside/secret.svg'),
           ('up2', 0.8, 'x', 'images/../../outside/secret.svg'),
           ('link', 0.9, 'x', 'images/link-out.svg'),
           ('prefix', 1.0, 'x', '../root-other/secret.svg'),
           ('pipe', 1.1, 'x', 'images/pipe.svg'),
           ('dir', 1.2, 'x', 'images'),
           ('gone', 1.3, 'x', 'images/gone.svg'),
           ('none', 1.4, 'x', NULL)" >/dev/null
    mkdir -p "$WORK/root-other"
    echo "SECRET-PREFIX" >"$WORK/root-other/secret.svg"
    write_config confine <<YAML
job: confine
source:
  table: sheet_img
  id: id
  score: score
  category: topic
  image_path: path
  image_root: root
strategy:
  by: category
  max_pairs: 10
  seed: 3
output:
  table: t_confine
YAML
}

# Issue 14.4: absolute paths, ../ and symlinks that lead out of image_root
# are refused and listed; copies keep (never widen) their source's mode.
test_copy_stays_inside_image_root() {
    cfg=$(confine_setup)
    for mode in copy link; do
        out="$WORK/sheet-$mode"
        if [ $mode = copy ]; then pp sample "$cfg" --out "$out" --per-category 100 --copy
        else pp sample "$cfg" --out "$out" --per-category 100; fi
        expect_status 0
        expect_eq "$(json_field images_placed)" 5 "$mode: images placed (a b c d in)"
        expect_eq "$(json_field images_refused)" 7 "$mode: images refused (abs up up2 link prefix pipe dir)"
        expect_eq "$(json_field images_missing)" 2 "$mode: images missing (gone, none)"
        ! grep -rqs SECRET "$out" || fail "$mode: a file from outside image_root reached the sheet"
        for link in $(find "$out" -type l); do
            target=$(readlink -f "$link")
            case "$target" in "$WORK/root/"*) ;; *) fail "$mode: $link leads to $target" ;; esac
        done
        for id in abs up up2 link prefix pipe dir; do
            grep -q "refused: $id " "$out/index.html" || fail "$mode: $id is not listed as refused"
        done
        expect_grep "7 refused" "$out/index.html"
    done
    expect_eq "$(stat -c %a "$WORK/sheet-copy/x/a.svg")" 600 "copy of a 0600 file"
    expect_eq "$(stat -c %a "$WORK/sheet-copy/x/b.svg")" 640 "copy of a 0640 file"
    expect_eq "$(stat -c %a "$WORK/sheet-copy/x/c.svg")" 644 "copy of a 0755 file"
    # an image_root that is not there is a configuration error, not a sheet of gaps
    sed -i 's|image_root: root|image_root: no-such-root|' "$cfg"
    pp sample "$cfg" --out "$WORK/sheet-noroot"; expect_status 78
    expect_grep "source.image_root" "$WORK/err"
    [ ! -e "$WORK/sheet-noroot/index.html" ] || fail "a sheet written without an image root"
}

# Issue 14.2/14.4: links planted in the output folder are replaced or
# refused, never written through.
test_planted_links_in_out_dir_are_not_followed() {
    cfg=$(confine_setup)
    out="$WORK/sheet-planted"
    mkdir -p "$out/x" "$WORK/victims/folder"
    echo "VICTIM-INDEX" >"$WORK/victims/index.html"
    echo "VICTIM-IMAGE" >"$WORK/victims/image.svg"
    ln -s "$WORK/victims/index.html" "$out/index.html"
    ln -s "$WORK/victims/image.svg" "$out/x/a.svg"
    # index.html is a side file: one that exists and is not a regular file
    # (here a planted link) is refused, never written through (issue 14.2)
    pp sample "$cfg" --out "$out" --per-category 100 --copy; expect_status 64
    expect_grep "is not a regular file" "$WORK/err"
    expect_eq "$(cat "$WORK/victims/index.html")" VICTIM-INDEX "the target of a planted index.html link"
    rm "$out/index.html"
    pp sample "$cfg" --out "$out" --per-category 100 --copy; expect_status 0
    expect_eq "$(cat "$WORK/victims/index.html")" VICTIM-INDEX "the target of a planted index.html link"
    expect_eq "$(cat "$WORK/victims/image.svg")" VICTIM-IMAGE "the target of a planted image link"
    [ -f "$out/index.html" ] && [ ! -L "$out/index.html" ] || fail "index.html is not a file of its own"
    [ -f "$out/x/a.svg" ] && [ ! -L "$out/x/a.svg" ] || fail "x/a.svg is not a copy of its own"
    # a category folder planted as a link elsewhere: refused, nothing written there
    rm -rf "$out/x"
    ln -s "$WORK/victims/folder" "$out/x"
    pp sample "$cfg" --out "$out" --per-category 100 --copy; expect_status 64
    expect_grep "cannot use '$out/x' as a folder" "$WORK/err"
    expect_eq "$(find "$WORK/victims/folder" -type f | wc -l)" 0 "files written through a planted folder link"
}

# The demo images under $1/pictures (file_path of demo.images), one removed.
demo_pictures() {
    "$ROOT/tests/tools/demo_images.sh" "$1/pictures"
    rm "$1/pictures/$(sql "SELECT file_path FROM demo.images WHERE topic = 'anime' ORDER BY job_uuid LIMIT 1")"
}

# The contact sheet of k-means clusters: folders, links, bounded memory,
# copies and template paths (moved here from run.sh with the sheet's redesign).
test_sample_contact_sheet_renders() {
    demo_pictures "$WORK"
    cfg=$(demo_config sample_a "image_path: file_path" "image_root: $WORK/pictures")
    pp sample "$cfg" --out "$WORK/sheet" --per-category 4; expect_status 0
    expect_eq "$(json_field categories)" 30 "categories"
    [ "$(find "$WORK/sheet" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 30 ] || fail "one folder per category"
    [ "$(find "$WORK/sheet" -type l | wc -l)" -ge 110 ] || fail "symlinks to sample images"
    expect_eq "$(find "$WORK/sheet" -type l -lname '/*' | wc -l)" 0 "absolute symlinks"
    expect_eq "$(grep -c '<section class="category"' "$WORK/sheet/index.html")" 30 "category sections"
    expect_eq "$(sql "SELECT to_regclass('t_sample_a') IS NULL")" t "sample creates or writes no pairs table"
    expect_links_resolve "$WORK/sheet"
    # resources.memory_limit holds for sample too: clusters fitted on a
    # sample of rows and assigned in a second pass, as in a run
    cp "$cfg" "$WORK/sample-bounded.yaml"
    printf 'resources:\n  memory_limit: 103MB\n  workers: 1\n' >>"$WORK/sample-bounded.yaml"
    pp sample "$WORK/sample-bounded.yaml" --out "$WORK/sheet-bounded" --per-category 4; expect_status 0
    expect_eq "$(json_field memory_mode)" bounded "sample's memory mode"
    expect_eq "$(json_field categories)" 30 "categories in bounded mode"
    [ "$(find "$WORK/sheet-bounded" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 30 ] || fail "one folder per category (bounded)"
    expect_grep "<dt>memory</dt><dd>bounded" "$WORK/sheet-bounded/index.html"
    # --copy copies real files
    pp sample "$cfg" --out "$WORK/sheet-copy" --per-category 2 --copy; expect_status 0
    [ "$(find "$WORK/sheet-copy" -type f -name '*.svg' | wc -l)" -ge 55 ] || fail "copies"
    # template paths; a missing file is listed, not fatal
    sed -i "s|image_path: file_path|image_path: images/{id}.svg|" "$cfg"
    pp sample "$cfg" --out "$WORK/sheet-template" --per-category 1000; expect_status 0  # every image
    [ "$(json_field images_missing)" -ge 1 ] || fail "the removed image is reported missing"
    expect_grep "missing image files" "$WORK/sheet-template/index.html"
    expect_sheet_loads "$WORK/sheet" 110
}

# Issue 16.8: the sheet an operator judges clusters with. A stored model:
# the header shows the run and the drift; the index links every category;
# every thumbnail is a link to its image with id and score; the folder
# still works once moved (relative links) or published alone (--copy).
test_sheet_judges_clusters_in_chromium() {
    mkdir -p "$WORK/pub"
    demo_pictures "$WORK/pub"
    cfg=$(demo_config sheet_model "image_path: file_path" "image_root: $WORK/pub/pictures")
    sed -i 's|^  kmeans: .*|  clusters_from: demo-topics\n  kmeans: {metric: cosine, fit_sample: 800}|' "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp fit "$cfg"; expect_status 0
    pp sample "$cfg" --out "$WORK/pub/sheet" --per-category 6 --seed 9; expect_status 0
    sheet="$WORK/pub/sheet/index.html"
    placed=$(json_field images_placed)
    # the header: job, time, seed, strategy, rows, model and drift
    expect_grep "pairpick contact sheet: sheet_model" "$sheet"
    expect_grep "<dt>made</dt><dd>[0-9-]* [0-9:]* [+-][0-9]*" "$sheet"
    expect_grep "<dt>seed</dt><dd>9</dd>" "$sheet"
    expect_grep "<dt>strategy</dt><dd>embedding</dd>" "$sheet"
    expect_grep "<dt>rows</dt><dd>1500 read" "$sheet"
    expect_grep "<dt>model</dt><dd>demo-topics version 1, cosine, k=30" "$sheet"
    expect_grep "<dt>drift</dt><dd>1500 rows assigned; largest share change" "$sheet"
    # the index: one row per category, each a link to its section, sortable by size
    expect_eq "$(grep -c '<tr data-order=' "$sheet")" 30 "index rows"
    expect_grep '<th data-sort="size"' "$sheet"
    expect_eq "$(grep -c '<svg class="histogram"' "$sheet")" 30 "score histograms"
    expect_eq "$(grep -c '<p class="drift">cluster ' "$sheet")" 30 "per-cluster drift"
    # every thumbnail a link to the image, captioned with its id and score
    expect_eq "$(grep -o '<figure><a href="[^"]*"><img src="[^"]*"' "$sheet" | awk -F'"' '$2 != $4' | wc -l)" 0 "thumbnails whose link is not their image"
    expect_eq "$(grep -c '<figure><a href=' "$sheet")" "$placed" "thumbnails"
    ids=$(grep '^<figure><a href=' "$sheet" | grep -o '<span class="id" title="[^"]*"' | sed 's/.*title="//; s/"$//' | paste -sd, -)
    expect_eq "$(echo "$ids" | tr , '\n' | wc -l)" "$placed" "ids under the thumbnails"
    expect_eq "$(grep '^<figure><a href=' "$sheet" | grep -c '<span class="score">[0-9.e+-]*</span>')" \
        "$(sql "SELECT count(score) FROM demo.images WHERE job_uuid::text = ANY ('{$ids}')")" "scores under the thumbnails"
    expect_eq "$(find "$WORK/pub/sheet" -type l -lname '/*' | wc -l)" 0 "absolute symlinks"
    expect_links_resolve "$WORK/pub/sheet"
    expect_sheet_loads "$WORK/pub/sheet" 170
    if [ "$SANITIZED" = 0 ]; then
        mkdir -p "$ARTIFACTS"
        chromium_run "file://$sheet" --window-size=1280,1400 --hide-scrollbars --screenshot="$WORK/sheet.png" >/dev/null
        [ -s "$WORK/sheet.png" ] || fail "no screenshot"
        cp "$WORK/sheet.png" "$ARTIFACTS/sheet.png"
        echo "    screenshot: $WORK/sheet.png (kept as $ARTIFACTS/sheet.png)"
    fi
    # moved with its images: the relative links still resolve
    mv "$WORK/pub" "$WORK/pub-moved"
    expect_sheet_loads "$WORK/pub-moved/sheet" 170
    # --copy: a folder that stands alone, published anywhere
    sed -i "s|$WORK/pub/pictures|$WORK/pub-moved/pictures|" "$cfg"
    pp sample "$cfg" --out "$WORK/copied" --per-category 6 --seed 9 --copy; expect_status 0
    mkdir -p "$WORK/www"
    mv "$WORK/copied" "$WORK/www/sheet"
    expect_eq "$(find "$WORK/www/sheet" -type l | wc -l)" 0 "links in a copied sheet"
    expect_sheet_loads "$WORK/www/sheet" 170
}

start_server_with_demo 1500
run_tests "$@"
