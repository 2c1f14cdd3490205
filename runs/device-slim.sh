#!/bin/sh
# A device call sends the working tree (tracked files and untracked ones git does not ignore) with
# its carried paths, 64 MiB in all (the device tool's README, "Limits"). On 2026-12-07 the tracked
# tree was 55.1 MB and the data pack and wheel 13.7 MB more: 65.6 MiB, which the call refuses. The
# device needs none of the measurements under docs/ (8.8 MB), so before the call they leave the
# working tree (git keeps them), and come back after it:
#
#   sh runs/device-slim.sh .gpu .whl      # removes docs/eval and docs/ablation, prints what travels
#   run(command="sh runs/device-call.sh", carry=[".gpu", ".whl"], timeout_s=590)
#   sh runs/device-slim.sh --restore      # git checkout of the two folders
#
# It refuses when those folders have changes git would not restore, and fails (exit 1, the folders
# put back) when what travels is still over LIMIT_MIB (default 63: a margin for the tool's own count).
set -eu
cd "$(dirname "$0")/.."
SLIM="docs/eval docs/ablation"
if [ "${1:-}" = "--restore" ]; then
    # shellcheck disable=SC2086
    git checkout -- $SLIM
    echo "restored: $SLIM"
    exit 0
fi
# shellcheck disable=SC2086
if [ -n "$(git status --porcelain -- $SLIM | grep -v '^ D' || true)" ]; then
    echo "device-slim: $SLIM have changes that are not committed; commit them first" >&2
    exit 2
fi
# the tracked files only (git restores them; ignored files there stay, and do not travel)
# shellcheck disable=SC2086
git ls-files -z -- $SLIM | xargs -0 rm -f
tree=$( { git ls-files -z; git ls-files -z -o --exclude-standard; } \
        | xargs -0 sh -c 'for f; do [ -f "$f" ] && [ ! -L "$f" ] && stat -c %s "$f"; done; :' _ \
        | awk '{ s += $1 } END { print s + 0 }')
carried=0
for p in "$@"; do
    [ -e "$p" ] || { echo "device-slim: $p (to be carried) does not exist" >&2; exit 2; }
    carried=$(( carried + $(find "$p" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }') ))
done
awk -v t="$tree" -v c="$carried" -v lim="${LIMIT_MIB:-63}" 'BEGIN {
    m = (t + c) / 1048576
    printf "travels: tree %.1f MiB + carried %.1f MiB = %.1f MiB (limit %s)\n", t / 1048576, c / 1048576, m, lim
    exit (m > lim) }' || { git checkout -- $SLIM; echo "device-slim: still over the limit; $SLIM restored" >&2; exit 1; }
