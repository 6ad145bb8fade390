#!/usr/bin/env bash
# utils/best_wer.sh DECODE_DIR...: print "DIR %WER ..." for the decode dir with the lowest %WER (as
# Kaldi's utils/best_wer.sh). A DIR without a wer file whose subdirs have one is a grid decoded
# with --out DIR (one dir per LM weight x word bonus): its points compete.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 exp/ctc/decode_dev_*" >&2; exit 2; }
for d in "$@"; do
  if [ ! -f "$d/wer" ] && compgen -G "$d/*/wer" > /dev/null; then
    for p in "$d"/*/wer; do echo "${p%/wer} $(head -n1 "$p")"; done
    continue
  fi
  [ -f "$d/wer" ] || { echo "$0: $d/wer not found — decode $d first" >&2; exit 1; }
  echo "$d $(head -n1 "$d/wer")"
done | LC_ALL=C sort -g -k3,3 | head -n1
