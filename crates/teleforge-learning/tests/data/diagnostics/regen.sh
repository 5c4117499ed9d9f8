#!/bin/sh
# Regenerate output.txt for every case: runs `cmd` with sh -c inside the case
# folder, with a throwaway HOME/GOPATH/GOCACHE and offline Go settings.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for dir in "$here"/*/*/; do
  [ -f "$dir/cmd" ] || continue
  (
    cd "$dir" &&
    HOME="$tmp/home" GOPATH="$tmp/gopath" GOCACHE="$tmp/gocache" \
    GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=off PYTHONDONTWRITEBYTECODE=1 \
      sh -c "$(cat cmd)" > output.txt 2>&1
    echo "$? ${dir#$here/}"
  )
done
