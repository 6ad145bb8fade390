#!/usr/bin/env bash
# Travel / slot-filling commands on the synthetic espeak-ng corpus: character CTC + a word 3-gram LM.
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N]
#   0 synth   1 validate   2 features   3 LM   4 train CTC   5 decode test: no LM, 3-gram, 3-gram + lexicon
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0; stop_stage=100; num_utts=3000; num_speakers=400; seed=0; config=conf/ctc.yaml
. ../utils/stages.sh "$@"

if run_stage 0 "synthesise the commands corpus"; then
  speechseq synth commands data --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj"; done_stage 0
fi
if run_stage 1 "validate"; then
  for s in train dev test; do speechseq data validate data/$s; done; done_stage 1
fi
if run_stage 2 "fbank features"; then
  for s in train dev test; do speechseq compute-feats data/$s --type fbank --num-mel-bins 80 -j "$nj"; done; done_stage 2
fi
if run_stage 3 "word 3-gram LM on the training transcripts"; then
  mkdir -p data/lm
  speechseq lm train data/train/text --kaldi-text --order 3 --out data/lm/3gram.arpa; done_stage 3
fi
if run_stage 4 "train a character CTC model"; then
  speechseq train-ctc data/train --dev data/dev --out exp/ctc --config "$config" --seed "$seed" --resume; done_stage 4
fi
if run_stage 5 "decode the test speakers: no LM, 3-gram LM, 3-gram LM + lexicon of the training words"; then
  # LM weight and word bonus chosen on data/dev (0.5/3 of 0.3-1.0 / 1-5 tried)
  ../utils/prepare_char_lexicon.sh data/train/text data/lang/lexicon.txt
  speechseq decode exp/ctc data/test --beam 10 --out exp/ctc/decode_test_nolm
  speechseq decode exp/ctc data/test --beam 10 --lm data/lm/3gram.arpa --lm-weight 0.5 --word-bonus 3 --out exp/ctc/decode_test_3gram
  speechseq decode exp/ctc data/test --beam 10 --lm data/lm/3gram.arpa --lm-weight 0.5 --word-bonus 3 \
    --lexicon data/lang/lexicon.txt --out exp/ctc/decode_test_3gram_lexicon
  for d in exp/ctc/decode_test_nolm exp/ctc/decode_test_3gram exp/ctc/decode_test_3gram_lexicon; do echo "$d: $(head -n1 $d/wer)"; done
  done_stage 5
fi
