#!/usr/bin/env bash
# utils/prepare_char_lexicon.sh TEXT LEXICON: a character lexicon (word, then its letters) of the words in a Kaldi text file.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 data/train/text data/lang/lexicon.txt" >&2; exit 2; }
mkdir -p "$(dirname "$2")"
cut -d' ' -f2- "$1" | tr ' ' '\n' | LC_ALL=C sort -u |
  awk 'NF { printf "%s", $1; n = split($1, c, ""); for (i = 1; i <= n; i++) printf " %s", c[i]; print "" }' > "$2.tmp"
mv "$2.tmp" "$2"
