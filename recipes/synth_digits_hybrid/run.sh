#!/usr/bin/env bash
# Connected digits with an LSTM-HMM hybrid, Kaldi style:
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N] [--config FILE]
#   (any setting below as --name value; markers, reruns and logs: ../utils/stages.sh)
#   0 synth corpus   1 MFCC features   2 lang dir (CMUdict) + word bigram LM
#   3 train-hybrid (monophone GMM -> align -> BLSTM -> re-align -> BLSTM)
#   4 graphs; decode dev over acoustic scales, test with the best (GMM and hybrid)
#   5 forced alignment of test; word-boundary error against the corpus's word timings
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
num_utts=2000
num_speakers=400
seed=0
config=conf/hybrid.yaml
scales="0.1 0.2 0.5 1.0"
settings="num_utts num_speakers seed config scales"  # recorded in data/.done.N
stage_settings_0="num_utts num_speakers seed"; stage_settings_1=""; stage_settings_2=""
stage_settings_3="config seed"; stage_settings_4="scales"; stage_settings_5=""
. ../utils/stages.sh "$@"

if run_stage 0 "synthesise the digits corpus"; then
  speechseq synth digits data --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj"
  done_stage 0
fi

if run_stage 1 "MFCC features (13 cepstra; the GMM adds deltas)"; then
  for s in train dev test; do speechseq compute-feats data/$s --type mfcc -j "$nj"; done
  done_stage 1
fi

if run_stage 2 "lang dir and LM"; then
  speechseq prepare-lang cmudict data/lang --words-from data/train/text
  speechseq lm train data/train/text --kaldi-text --order 2 --out data/lm/bigram.arpa
  done_stage 2
fi

if run_stage 3 "train the hybrid"; then
  speechseq train-hybrid data/train --dev data/dev --lang data/lang --out exp/hybrid --config "$config" --seed "$seed" $(resume_flag)
  done_stage 3
fi

if run_stage 4 "graphs and decoding"; then
  for m in exp/hybrid/mono exp/hybrid; do
    speechseq mkgraph data/lang $m --lm data/lm/bigram.arpa --out $m/graph
    for ac in $scales; do
      speechseq decode $m data/dev --graph $m/graph --acoustic-scale $ac --out $m/decode_dev_ac$ac
    done
    best=$(for ac in $scales; do echo "$(head -1 $m/decode_dev_ac$ac/wer | awk '{print $2}') $ac"; done | sort -n | head -1 | awk '{print $2}')
    echo "$m: acoustic scale $best (best on dev)"
    speechseq decode $m data/test --graph $m/graph --acoustic-scale "$best" --out $m/decode_test
    echo "$m test: $(head -1 $m/decode_test/wer)"
  done
  done_stage 4
fi

if run_stage 5 "alignment and word boundaries"; then
  for m in exp/hybrid/mono exp/hybrid; do speechseq align $m data/test --out $m/ali_test/words.ctm; done
  python ../../benchmarks/word_boundaries.py data/test/ctm exp/hybrid/mono/ali_test/words.ctm exp/hybrid/ali_test/words.ctm
  done_stage 5
fi
