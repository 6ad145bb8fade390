#!/usr/bin/env bash
# Connected digits on the synthetic espeak-ng corpus, Kaldi style:
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N] [--config FILE] [--augment true]
#            [--perturb true|wide] [--cross-engine true] [--both mix|union]
# Stages skip work finished with the same settings (data/.done.N records them); other settings, or an
# explicit --stage N, redo the stage and those after it. Logs: exp/log/stage<N>.<name>.log.
#   0 synth corpus   1 validate   2 augment (with --augment true)   3 features   4 train CTC
#   5 decode test (greedy, beam, beam + lexicon; each one job per part of data/test, as stage 3)
# With --cross-engine true (needs speechseq[piper]), the leave-one-engine-out evaluation:
#   6 synth the same sentences with Piper (data/piper) and with both engines, one per speaker
#     (data/mix)   7 features   8 train on Piper only (exp/ctc_piper)   9 train on both: half of
#     each (data/mix/train, exp/ctc_mix) or with --both union all of each, each with its augmented
#     copy under --augment true (data/both/train, exp/ctc_both; ../utils/engines.sh)
#   10 decode the three models on espeak's held-out voices (data/test) and on Piper's
#      (data/piper/test): exp/leave_one_engine_out.txt
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
perturb=false  # true (with --augment true): the copy's speakers also move, VTLP and pitch shift each with chance 0.5;
              # wide: also formant shift, tempo and a microphone response, each with chance 0.5
cross_engine=false  # true: stages 6-10, the leave-one-engine-out evaluation with Piper (speechseq[piper])
both=mix  # stage 9's training on both engines: mix (half of each, exp/ctc_mix) or union (all of both, exp/ctc_both)
settings="num_utts num_speakers seed config augment perturb cross_engine both"  # recorded in each data/.done.N (../utils/stages.sh)
# what each stage depends on (a stage is also redone when an earlier one is)
stage_settings_0="num_utts num_speakers seed"; stage_settings_1=""; stage_settings_2="augment perturb seed"
stage_settings_3="augment"; stage_settings_4="augment config seed"; stage_settings_5=""
stage_settings_6="cross_engine num_utts num_speakers seed"; stage_settings_7="cross_engine"
stage_settings_8="cross_engine config seed"; stage_settings_9="cross_engine both augment perturb config seed"
stage_settings_10="cross_engine both"
. ../utils/stages.sh "$@"
for c in "augment false true" "perturb false true wide" "cross_engine false true"; do check_choice $c; done
. ../utils/engines.sh
both_model=$(both_model)

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
    ../utils/augment_train.sh data/train data/train_comb "$seed" "$nj" "$perturb"
  fi
  done_stage 2
fi

if run_stage 3 "compute fbank features"; then
  # one job per part of each data dir ($cmd in cmd.sh: local or slurm), then the parts' features
  # are committed into the data dir as one set
  for s in $train data/dev data/test; do
    feats_parts $s --type fbank --num-mel-bins 80
  done
  done_stage 3
fi

if run_stage 4 "train a character CTC model"; then
  $train_cmd train-ctc $train --dev data/dev --out exp/ctc --config "$config" --seed "$seed" $(resume_flag)
  done_stage 4
fi

# decode_parts (../utils/parallel.sh): one decode job per part of DATA, merged into one decode dir
if run_stage 5 "decode the held-out test speakers"; then
  decode_parts exp/ctc data/test exp/ctc/decode_test_greedy
  decode_parts exp/ctc data/test exp/ctc/decode_test_beam10 --beam 10
  ../utils/prepare_char_lexicon.sh data/train/text data/lang/lexicon.txt
  decode_parts exp/ctc data/test exp/ctc/decode_test_lexicon --beam 10 --lexicon data/lang/lexicon.txt
  for d in exp/ctc/decode_test_*; do echo "$d: $(head -n1 $d/wer)"; done
  done_stage 5
fi

# --- leave one engine out: espeak-ng voices against Piper's neural voice (--cross-engine true) ---
# data/piper: the same sentences as data/ (same seed) in Piper speakers (the en_US-joe-medium voice,
# made many by per-speaker VTLP and pitch shift, per-utterance rate and VITS noise); data/mix: the
# same sentences again, every other speaker of each set a Piper speaker (same size as data/train,
# so training on both engines costs what training on one does).

if run_stage 6 "synthesise the sentences with Piper, and with both engines"; then
  if [ "$cross_engine" = true ]; then
    for e in piper mix; do
      speechseq synth digits data/$e --engine $e --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj"
      for s in train dev test; do speechseq data validate data/$e/$s; done
    done
  fi
  done_stage 6
fi

if run_stage 7 "compute fbank features of the Piper and mixed sets"; then
  if [ "$cross_engine" = true ]; then
    for s in data/piper/train data/piper/dev data/piper/test data/mix/train data/mix/dev; do
      feats_parts $s --type fbank --num-mel-bins 80
    done
  fi
  done_stage 7
fi

if run_stage 8 "train on Piper speech only"; then
  if [ "$cross_engine" = true ]; then
    $train_cmd train-ctc data/piper/train --dev data/piper/dev --out exp/ctc_piper --config "$config" --seed "$seed" $(resume_flag)
  fi
  done_stage 8
fi

if run_stage 9 "train on both engines"; then
  if [ "$cross_engine" = true ]; then
    both_train=data/mix/train
    if [ "$both" = union ]; then both_train=data/both/train; both_engines_train $train $both_train; fi
    $train_cmd train-ctc $both_train --dev data/mix/dev --out exp/$both_model --config "$config" --seed "$seed" $(resume_flag)
  fi
  done_stage 9
fi

if run_stage 10 "decode every model on both engines' held-out speakers"; then
  if [ "$cross_engine" = true ]; then
    ../utils/prepare_char_lexicon.sh data/train/text data/lang/lexicon.txt
    table=exp/leave_one_engine_out.txt
    printf '%-9s %-13s %-12s %s\n' model trained_on tested_on "beam 10 + lexicon (greedy)" > $table.tmp
    for m in ctc ctc_piper $both_model; do
      case $m in ctc) on=espeak ;; ctc_piper) on=piper ;; ctc_mix|ctc_both) on=espeak+piper ;; esac
      for t in test piper/test; do
        tag=$(echo $t | tr / _)
        decode_parts exp/$m data/$t exp/$m/decode_${tag}_greedy
        decode_parts exp/$m data/$t exp/$m/decode_${tag}_lexicon --beam 10 --lexicon data/lang/lexicon.txt
        by=espeak; [ $t = piper/test ] && by=piper
        printf '%-9s %-13s %-12s %s (%s)\n' $m $on $by "$(head -n1 exp/$m/decode_${tag}_lexicon/wer)" \
          "$(head -n1 exp/$m/decode_${tag}_greedy/wer | cut -d' ' -f2)" >> $table.tmp
      done
    done
    mv $table.tmp $table
    cat $table
  fi
  done_stage 10
fi
