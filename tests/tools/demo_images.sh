#!/bin/sh
# Writes a small SVG picture for every demo image into DIR (DIR/images/<uuid>.svg,
# the file_path of demo.images): the topic's colour, a disc sized by score,
# the topic's name. Lets `pairpick sample` build a contact sheet that a
# browser shows. Usage: demo_images.sh DIR   (PG* variables point at the demo db)
set -eu
dir=${1:?usage: demo_images.sh DIR}
mkdir -p "$dir/images"
psql -X -At -F '	' -v ON_ERROR_STOP=1 -c "
  SELECT i.file_path,
         '<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"96\" height=\"96\">'
      || '<rect width=\"96\" height=\"96\" fill=\"hsl(' || (t.topic_id * 12) || ',65%,50%)\"/>'
      || '<circle cx=\"48\" cy=\"44\" r=\"' || round(6 + 8 * coalesce(i.score, 0))
      || '\" fill=\"white\" fill-opacity=\"0.75\"/>'
      || '<text x=\"48\" y=\"90\" font-size=\"11\" font-family=\"sans-serif\" text-anchor=\"middle\">'
      || t.topic || '</text></svg>'
    FROM demo.images i JOIN demo.topics t USING (topic)" |
awk -F '	' -v root="$dir" '{ file = root "/" $1; print $2 > file; close(file) }'
