#!/usr/bin/env bash
# utils/lm_point.sh DECODE_DIR: print "LM_WEIGHT WORD_BONUS" of a CTC decode dir (its results.json),
# e.g. of the dev point utils/best_wer.sh chose, to decode the test set with the same two.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 exp/ctc/decode_dev_3gram/beam30_lm-3gram_w0.5_b2" >&2; exit 2; }
[ -f "$1/results.json" ] || { echo "$0: $1/results.json not found — decode $1 first" >&2; exit 1; }
python -c 'import json, sys
o = json.load(open(sys.argv[1]))["options"]
print("%g %g" % (o["lm_weight"], o["word_bonus"]))' "$1/results.json"
