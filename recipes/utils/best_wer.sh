#!/usr/bin/env bash
# utils/best_wer.sh DECODE_DIR...: print "DIR %WER ..." for the decode dir with the lowest %WER (as Kaldi's utils/best_wer.sh).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 exp/ctc/decode_dev_*" >&2; exit 2; }
for d in "$@"; do
  [ -f "$d/wer" ] || { echo "$0: $d/wer not found — decode $d first" >&2; exit 1; }
  echo "$d $(head -n1 "$d/wer")"
done | LC_ALL=C sort -g -k3,3 | head -n1
