#!/usr/bin/env bash
# librispeech_root.sh DIR SUBSET...: print the folder that holds the LibriSpeech subsets
# (DIR itself, or DIR/LibriSpeech); if a subset is missing or not in LibriSpeech's layout
# (SUBSET/SPK/CHAP/SPK-CHAP.trans.txt beside SPK-CHAP-NNNN.flac), one error line and exit 1.
set -euo pipefail
dir=${1-}; shift
layout="SUBSET/SPK/CHAP/SPK-CHAP-NNNN.flac with SPK-CHAP.trans.txt"
if [ -z "$dir" ]; then
  echo "error: no --corpus-dir given — give the folder that holds LibriSpeech/ ($layout)" >&2
  exit 1
fi
root=$dir
[ -d "$dir/LibriSpeech" ] && root=$dir/LibriSpeech
for s in "$@"; do
  if [ ! -d "$root/$s" ]; then
    echo "error: $dir: no $s/ in it (nor in $dir/LibriSpeech) — give the folder that holds LibriSpeech's subsets ($layout)" >&2
    exit 1
  fi
  t=$(find "$root/$s" -mindepth 3 -maxdepth 3 -name '*.trans.txt' -print -quit)
  if [ -z "$t" ]; then
    echo "error: $root/$s: no SPK/CHAP/SPK-CHAP.trans.txt — not LibriSpeech's layout ($layout)" >&2
    exit 1
  fi
done
echo "$root"
