#!/usr/bin/env bash
# Speech translation on the synthetic espeak-ng "translate" corpus: English speech -> French and
# German text (numbers, years, times, dates, counted nouns, phrases; German reorders numbers).
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N] [--targets "fr de"] [--st-config FILE]
#   (any setting below as --name value; markers, reruns and logs: ../utils/stages.sh)
#   0 synth corpus (held-out voices and held-out sentences in dev/test)   1 validate   2 features
#   3 (a) end to end, no English transcript anywhere: train-st per target
#   4 (b) multi-task: train-st with an auxiliary CTC loss on the English transcript
#   5 (c) encoder from a CTC model: train-ctc with the ST encoder, then train-st --init-from it
#   6 cascade: a character CTC recogniser and a text translation model (train-mt) per target
#   7 decode the test set: every ST model (beam 5) and the cascade, BLEU and chrF -> exp/bleu_summary
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
num_utts=4000
num_speakers=400
seed=0
targets="fr de"
ways="a b c"  # which end-to-end trainings run: a (no transcript), b (multi-task), c (init from CTC)
st_config=conf/st.yaml
ctc_config=conf/ctc.yaml
mt_config=conf/mt.yaml
ctc_init_config=conf/ctc_st_encoder.yaml  # (c): a CTC model with the ST encoder
ctc_weight=0.3
settings="num_utts num_speakers seed targets ways st_config ctc_config mt_config ctc_init_config ctc_weight"
stage_settings_0="num_utts num_speakers seed"; stage_settings_1=""; stage_settings_2=""
stage_settings_3="targets ways st_config seed"; stage_settings_4="targets ways st_config ctc_weight seed"
stage_settings_5="targets ways st_config ctc_init_config seed"; stage_settings_6="targets ctc_config mt_config seed"
stage_settings_7="targets ways"
. ../utils/stages.sh "$@"

has() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if run_stage 0 "synthesise the translate corpus"; then
  speechseq synth translate data --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj"
  done_stage 0
fi

if run_stage 1 "validate the data dirs"; then
  for s in train dev test; do speechseq data validate data/$s; done
  done_stage 1
fi

if run_stage 2 "compute fbank features"; then
  for s in train dev test; do feats_parts data/$s --type fbank --num-mel-bins 80; done
  done_stage 2
fi

if run_stage 3 "end to end without any transcript"; then
  if has a "$ways"; then
    for t in $targets; do
      $train_cmd train-st data/train --dev data/dev --target "$t" --out "exp/st_${t}_a" --config "$st_config" --seed "$seed" $(resume_flag)
    done
  fi
  done_stage 3
fi

if run_stage 4 "multi-task with a CTC loss on the English transcript"; then
  if has b "$ways"; then
    for t in $targets; do
      $train_cmd train-st data/train --dev data/dev --target "$t" --out "exp/st_${t}_b" --config "$st_config" \
        --ctc-weight "$ctc_weight" --seed "$seed" $(resume_flag)
    done
  fi
  done_stage 4
fi

if run_stage 5 "encoder from a CTC model"; then
  if has c "$ways"; then
    $train_cmd train-ctc data/train --dev data/dev --out exp/ctc_st_encoder --config "$ctc_init_config" --seed "$seed" $(resume_flag)
    for t in $targets; do
      $train_cmd train-st data/train --dev data/dev --target "$t" --out "exp/st_${t}_c" --config "$st_config" \
        --init-from exp/ctc_st_encoder --init-part encoder --seed "$seed" $(resume_flag)
    done
  fi
  done_stage 5
fi

if run_stage 6 "cascade: recogniser and text translation"; then
  $train_cmd train-ctc data/train --dev data/dev --out exp/asr --config "$ctc_config" --seed "$seed" $(resume_flag)
  for t in $targets; do
    $train_cmd train-mt data/train --dev data/dev --target "$t" --out "exp/mt_${t}" --config "$mt_config" --seed "$seed" $(resume_flag)
  done
  done_stage 6
fi

if run_stage 7 "decode the test set: BLEU and chrF"; then
  # decode_parts (../utils/parallel.sh): one job per part of data/test ($cmd: local or slurm), merged
  # and scored as one decode (BLEU and chrF over all parts at once); the cascades run whole
  decode_parts exp/asr data/test exp/asr/decode_test_greedy
  ../utils/prepare_char_lexicon.sh data/train/text data/lang/lexicon.txt
  decode_parts exp/asr data/test exp/asr/decode_test_lexicon --beam 10 --lexicon data/lang/lexicon.txt
  summary=exp/bleu_summary
  : > "$summary.tmp"
  for t in $targets; do
    for w in $ways; do
      decode_parts "exp/st_${t}_${w}" data/test "exp/st_${t}_${w}/decode_test_beam5" --beam 5
      echo "exp/st_${t}_${w}/decode_test_beam5: $(head -n1 exp/st_${t}_${w}/decode_test_beam5/bleu)" >> "$summary.tmp"
    done
    speechseq decode exp/asr data/test --cascade "exp/mt_${t}" --mt-beam 5 --out "exp/mt_${t}/decode_test_cascade_beam5"
    echo "exp/mt_${t}/decode_test_cascade_beam5: $(head -n1 exp/mt_${t}/decode_test_cascade_beam5/bleu)" >> "$summary.tmp"
    # the stronger cascade: the recogniser restricted to the training words (beam 10 + lexicon)
    speechseq decode exp/asr data/test --beam 10 --lexicon data/lang/lexicon.txt --cascade "exp/mt_${t}" --mt-beam 5 \
      --out "exp/mt_${t}/decode_test_cascade_lex_beam5"
    echo "exp/mt_${t}/decode_test_cascade_lex_beam5: $(head -n1 exp/mt_${t}/decode_test_cascade_lex_beam5/bleu)" >> "$summary.tmp"
  done
  mv "$summary.tmp" "$summary"
  echo "English recogniser: $(head -n1 exp/asr/decode_test_greedy/wer) (greedy); $(head -n1 exp/asr/decode_test_lexicon/wer) (beam 10 + lexicon)"
  cat "$summary"
  done_stage 7
fi
