#!/bin/sh
# Regenerate output.txt for every TypeScript case with the `tsc` on PATH (see ../README.md):
#   PATH="$(npm prefix)/node_modules/.bin:$PATH" ./regen.sh   after `npm install typescript`
set -u
here=$(cd "$(dirname "$0")" && pwd)
for dir in "$here"/*/; do
  [ -f "$dir/cmd" ] || continue
  (cd "$dir" && sh -c "$(cat cmd)" > output.txt 2>&1; echo "$? ${dir#$here/}")
done
