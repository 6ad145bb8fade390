#!/usr/bin/env bash
# Connected digits on the synthetic espeak-ng corpus, Kaldi style:
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N] [--config FILE] [--augment true]
# Stages skip work finished with the same settings (data/.done.N records them); other settings, or an
# explicit --stage N, redo the stage and those after it. Logs: exp/log/stage<N>.<name>.log.
#   0 synth corpus   1 validate   2 augment (with --augment true)   3 features   4 train CTC
#   5 decode test (greedy, beam, beam + lexicon)
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
num_utts=2000
num_speakers=400  # training voices: variety is what makes held-out speakers work
seed=0
config=conf/ctc.yaml
augment=false  # true: train on data/train plus a speed/reverb/noise copy of it (twice the training time)
settings="num_utts num_speakers seed config augment"  # recorded in each data/.done.N (../utils/stages.sh)
# what each stage depends on (a stage is also redone when an earlier one is)
stage_settings_0="num_utts num_speakers seed"; stage_settings_1=""; stage_settings_2="augment seed"
stage_settings_3="augment"; stage_settings_4="augment config seed"; stage_settings_5=""
. ../utils/stages.sh "$@"

if run_stage 0 "synthesise the digits corpus"; then
  speechseq synth digits data --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj"
  done_stage 0
fi

if run_stage 1 "validate the data dirs"; then
  for s in train dev test; do speechseq data validate data/$s; done
  done_stage 1
fi

train=data/train
[ "$augment" = true ] && train=data/train_comb

if run_stage 2 "augmented copy of the training set"; then
  if [ "$augment" = true ]; then
    speechseq data augment data/train data/train_aug --copies 1 --channel-prob 0.5 --seed "$seed" -j "$nj"
    speechseq data combine data/train_comb data/train data/train_aug
  fi
  done_stage 2
fi

if run_stage 3 "compute fbank features"; then
  # one job per part of each data dir ($cmd in cmd.sh: local or slurm), then the parts' features
  # are committed into the data dir as one set
  for s in $train data/dev data/test; do
    run_parts $s feats_$(basename $s) speechseq compute-feats PART --type fbank --num-mel-bins 80
    speechseq compute-feats $s --from-parts "$parts_dir"
    rm -rf "$parts_dir"
  done
  done_stage 3
fi

if run_stage 4 "train a character CTC model"; then
  $train_cmd train-ctc $train --dev data/dev --out exp/ctc --config "$config" --seed "$seed" $(resume_flag)
  done_stage 4
fi

if run_stage 5 "decode the held-out test speakers"; then
  speechseq decode exp/ctc data/test --out exp/ctc/decode_test_greedy
  speechseq decode exp/ctc data/test --beam 10 --out exp/ctc/decode_test_beam10
  ../utils/prepare_char_lexicon.sh data/train/text data/lang/lexicon.txt
  speechseq decode exp/ctc data/test --beam 10 --lexicon data/lang/lexicon.txt --out exp/ctc/decode_test_lexicon
  for d in exp/ctc/decode_test_*; do echo "$d: $(head -n1 $d/wer)"; done
  done_stage 5
fi
