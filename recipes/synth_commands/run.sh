#!/usr/bin/env bash
# Travel / slot-filling commands on the synthetic espeak-ng corpus: character CTC + a word 3-gram LM.
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N] [--config FILE] [--beam N] ...
#   (any setting below as --name value; markers, reruns and logs: ../utils/stages.sh)
#   0 synth   1 validate   2 features (with --augment true: of train plus an augmented copy of it)
#   3 LM   4 train CTC
#   5 decode test: no LM, 3-gram, 3-gram + lexicon (LM weight and word bonus tuned on dev)
# With --cross-engine true (needs speechseq[piper]), the leave-one-engine-out evaluation:
#   6 synth the same sentences with Piper (data/piper) and with both engines, one per speaker
#     (data/mix)   7 features   8 train on Piper only (exp/ctc_piper)   9 train on both: half of
#     each (data/mix/train, exp/ctc_mix) or with --both union all of each, each with its augmented
#     copy under --augment true (data/both/train, exp/ctc_both; ../utils/engines.sh)
#   10 decode the three models (3-gram + lexicon, LM weight and bonus chosen on each model's own
#      dev set) on espeak's held-out voices and on Piper's: exp/leave_one_engine_out.txt
# With --hybrid true, the LSTM-HMM hybrid beside the CTC model (../synth_digits_hybrid's chain):
#   11 MFCC copies of train/dev/test (data/hybrid/; train is the CTC model's: with --augment true
#      data/train plus its augmented copy, which the GMM trains on and aligns too)
#   12 lang (CMUdict; letters for the words it lacks) and train-hybrid (conf/hybrid.yaml;
#      conf/hybrid_tri.yaml: tied triphone states)
#   13 HCLG with the 3-gram LM, dev lattices over acoustic scales x word bonuses, test at the best
#      (the GMM, the triphone GMM if built, and the BLSTM); with --cross-engine true also Piper's
#      test speakers (data/piper/test) at the same points: the espeak-trained hybrid left one
#      engine out   14 CTC and hybrid side by side: exp/ctc_vs_hybrid.txt
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh
. ../utils/hybrid.sh

stage=0; stop_stage=100; num_utts=3000; num_speakers=400; seed=0; config=conf/ctc.yaml
beam=30; lm_weights="0.5 1.0 1.5"; word_bonuses="0 2 4"  # the grid searched on dev
augment=false  # true: train on data/train plus a speed/reverb/noise/channel copy of it (twice the training time)
perturb=false  # true (with --augment true): the copy's speakers also move, VTLP and pitch shift each with chance 0.5;
              # wide: also formant shift, tempo and a microphone response, each with chance 0.5
cross_engine=false  # true: stages 6-10, the leave-one-engine-out evaluation with Piper (speechseq[piper])
both=mix  # stage 9's training on both engines: mix (half of each, exp/ctc_mix) or union (all of both, exp/ctc_both)
hybrid=false  # true: stages 11-14, the LSTM-HMM hybrid beside the CTC model
hybrid_nn_feats=fbank  # the hybrid BLSTMs' features: fbank (80-dim, data/hybrid/fbank/) or mfcc (the GMM's 13)
hybrid_config=conf/hybrid.yaml; scales="0.1 0.2 0.5 1.0"; bonuses="0,1,2,4"  # the hybrid's dev grid
settings="num_utts num_speakers seed config augment perturb beam lm_weights word_bonuses cross_engine both hybrid hybrid_nn_feats hybrid_config scales bonuses"  # recorded in data/.done.N
stage_settings_0="num_utts num_speakers seed"; stage_settings_1=""; stage_settings_2="augment perturb seed"; stage_settings_3=""
stage_settings_4="config seed"; stage_settings_5="beam lm_weights word_bonuses"  # per stage
stage_settings_6="cross_engine num_utts num_speakers seed"; stage_settings_7="cross_engine"
stage_settings_8="cross_engine config seed"; stage_settings_9="cross_engine both augment perturb config seed"
stage_settings_10="cross_engine both beam lm_weights word_bonuses"
stage_settings_11="hybrid hybrid_nn_feats cross_engine augment perturb seed"; stage_settings_12="hybrid hybrid_nn_feats hybrid_config seed"
stage_settings_13="hybrid scales bonuses cross_engine"; stage_settings_14="hybrid cross_engine"
. ../utils/stages.sh "$@"
for c in "augment false true" "perturb false true wide" "cross_engine false true" "hybrid false true" "hybrid_nn_feats fbank mfcc"; do check_choice $c; done
. ../utils/engines.sh
both_model=$(both_model)
hnn=data/hybrid  # the data dirs whose features the hybrid's BLSTMs read (and decode)
[ "$hybrid_nn_feats" = fbank ] && hnn=data/hybrid/fbank

if run_stage 0 "synthesise the commands corpus"; then
  speechseq synth commands data --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj"; done_stage 0
fi
if run_stage 1 "validate"; then
  for s in train dev test; do speechseq data validate data/$s; done; done_stage 1
fi
train=data/train
[ "$augment" = true ] && train=data/train_comb
if run_stage 2 "fbank features"; then
  [ "$augment" = true ] && ../utils/augment_train.sh data/train data/train_comb "$seed" "$nj" "$perturb"
  for s in $train data/dev data/test; do feats_parts $s --type fbank --num-mel-bins 80; done; done_stage 2
fi
if run_stage 3 "word 3-gram LM on the training transcripts"; then
  mkdir -p data/lm
  speechseq lm train data/train/text --kaldi-text --order 3 --out data/lm/3gram.arpa; done_stage 3
fi
if run_stage 4 "train a character CTC model"; then
  $train_cmd train-ctc $train --dev data/dev --out exp/ctc --config "$config" --seed "$seed" $(resume_flag); done_stage 4
fi
if run_stage 5 "decode the test speakers: no LM, 3-gram LM, 3-gram LM + lexicon (LM weight, word bonus chosen on dev)"; then
  # As Kaldi's score.sh: decode dev over a grid of LM weights and word bonuses, keep the best for test.
  # One decode call per kind and part searches the whole grid from one pass of the network (one dir
  # per point, named after its options: exp/ctc/decode_dev_3gram/beam30_lm-3gram_w0.5_b0, ...);
  # like the test decodes, one job per part of the set (decode_parts, ../utils/parallel.sh).
  ../utils/prepare_char_lexicon.sh data/train/text data/lang/lexicon.txt
  lm="--beam $beam --lm data/lm/3gram.arpa"
  lex="--lexicon data/lang/lexicon.txt"
  grid="--lm-weight $(echo $lm_weights | tr ' ' ,) --word-bonus $(echo $word_bonuses | tr ' ' ,)"
  decode_parts exp/ctc data/dev exp/ctc/decode_dev_3gram $lm $grid
  decode_parts exp/ctc data/dev exp/ctc/decode_dev_3gram_lexicon $lm $lex $grid
  decode_parts exp/ctc data/test exp/ctc/decode_test_nolm --beam "$beam"
  for kind in 3gram 3gram_lexicon; do
    extra=""
    [ "$kind" = 3gram_lexicon ] && extra=$lex
    best=$(../utils/best_wer.sh exp/ctc/decode_dev_$kind)
    echo "best on dev ($kind): $best"
    read -r w b <<< "$(../utils/lm_point.sh "${best%% *}")"
    decode_parts exp/ctc data/test exp/ctc/decode_test_$kind $lm --lm-weight "$w" --word-bonus "$b" $extra
  done
  for d in exp/ctc/decode_test_nolm exp/ctc/decode_test_3gram exp/ctc/decode_test_3gram_lexicon; do echo "$d: $(head -n1 $d/wer)"; done
  done_stage 5
fi

# --- leave one engine out: espeak-ng voices against Piper's neural voice (--cross-engine true) ---
# data/piper: the same sentences as data/ (same seed) in Piper speakers; data/mix: the same
# sentences, every other speaker a Piper one (as large as data/train). See ../synth_digits/run.sh.
if run_stage 6 "synthesise the sentences with Piper, and with both engines"; then
  if [ "$cross_engine" = true ]; then
    for e in piper mix; do
      speechseq synth commands data/$e --engine $e --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj"
      for s in train dev test; do speechseq data validate data/$e/$s; done
    done
  fi
  done_stage 6
fi
if run_stage 7 "fbank features of the Piper and mixed sets"; then
  if [ "$cross_engine" = true ]; then
    for s in piper/train piper/dev piper/test mix/train mix/dev; do feats_parts data/$s --type fbank --num-mel-bins 80; done
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
if run_stage 10 "decode every model on both engines' held-out speakers (3-gram + lexicon)"; then
  if [ "$cross_engine" = true ]; then
    ../utils/prepare_char_lexicon.sh data/train/text data/lang/lexicon.txt
    lm="--beam $beam --lm data/lm/3gram.arpa --lexicon data/lang/lexicon.txt"
    grid="--lm-weight $(echo $lm_weights | tr ' ' ,) --word-bonus $(echo $word_bonuses | tr ' ' ,)"
    table=exp/leave_one_engine_out.txt
    printf '%-9s %-13s %-12s %s\n' model trained_on tested_on "3-gram + lexicon (no LM)" > $table.tmp
    for m in ctc ctc_piper $both_model; do
      case $m in ctc) on=espeak; dev=data/dev ;; ctc_piper) on=piper; dev=data/piper/dev ;; ctc_mix|ctc_both) on=espeak+piper; dev=data/mix/dev ;; esac
      # the model's own dev set chooses its LM weight and bonus
      decode_parts exp/$m $dev exp/$m/decode_dev_3gram_lexicon $lm $grid
      best=$(../utils/best_wer.sh exp/$m/decode_dev_3gram_lexicon)
      read -r w b <<< "$(../utils/lm_point.sh "${best%% *}")"
      echo "$m: LM weight $w, word bonus $b (best on $dev)"
      for t in test piper/test; do
        tag=$(echo $t | tr / _)
        decode_parts exp/$m data/$t exp/$m/decode_${tag}_nolm --beam "$beam"
        decode_parts exp/$m data/$t exp/$m/decode_${tag}_3gram_lexicon $lm --lm-weight "$w" --word-bonus "$b"
        by=espeak; [ $t = piper/test ] && by=piper
        printf '%-9s %-13s %-12s %s (%s)\n' $m $on $by "$(head -n1 exp/$m/decode_${tag}_3gram_lexicon/wer)" \
          "$(head -n1 exp/$m/decode_${tag}_nolm/wer | cut -d' ' -f2)" >> $table.tmp
      done
    done
    mv $table.tmp $table
    cat $table
  fi
  done_stage 10
fi

# --- the LSTM-HMM hybrid beside the CTC model (--hybrid true) ---
if run_stage 11 "MFCC copies of the data dirs for the hybrid's GMM (and fbank copies for its BLSTMs)"; then
  if [ "$hybrid" = true ]; then
    rm -rf data/hybrid
    sets="train dev test"
    [ "$cross_engine" = true ] && sets="$sets piper/test"  # stage 13 decodes Piper's test speakers too
    for s in $sets; do
      src=data/$s; [ $s = train ] && src=$train  # the CTC model's training set, augmented or not
      speechseq data copy $src data/hybrid/$s
      feats_parts data/hybrid/$s --type mfcc
      if [ "$hnn" != data/hybrid ]; then
        speechseq data copy $src $hnn/$s
        feats_parts $hnn/$s --type fbank --num-mel-bins 80
      fi
    done
  fi
  done_stage 11
fi
if run_stage 12 "lang dir and the hybrid (monophone GMM -> align -> BLSTM -> re-align -> BLSTM)"; then
  if [ "$hybrid" = true ]; then
    # the words of train and dev (train-hybrid aligns dev to choose its epochs); the LM, from the
    # training text, decides what the test decodes can say
    mkdir -p data/lang_hybrid_words && cat data/train/text data/dev/text > data/lang_hybrid_words/text
    speechseq prepare-lang cmudict data/lang_hybrid --words-from data/lang_hybrid_words/text --grapheme-fallback
    # speechseq itself, not $train_cmd: the GMM steps are not distributed. The GMM reads the MFCC
    # (--bootstrap-train), the BLSTMs $hnn's features, as Kaldi's data/train beside data/train_hires
    boot=""
    [ "$hnn" = data/hybrid ] || boot="--bootstrap-train data/hybrid/train --bootstrap-dev data/hybrid/dev"
    speechseq train-hybrid $hnn/train --dev $hnn/dev --lang data/lang_hybrid --out exp/hybrid \
      --config "$hybrid_config" --seed "$seed" $boot $(resume_flag)
  fi
  done_stage 12
fi
if run_stage 13 "hybrid graphs with the 3-gram LM, decoding"; then
  if [ "$hybrid" = true ]; then
    hybrid_graph_decode exp/hybrid/mono data/lang_hybrid data/lm/3gram.arpa data/hybrid/dev data/hybrid/test "$scales" "$bonuses"
    if [ -d exp/hybrid/tri ]; then  # the triphone GMM (a config with hybrid.tri_leaves: conf/hybrid_tri.yaml)
      hybrid_graph_decode exp/hybrid/tri data/lang_hybrid data/lm/3gram.arpa data/hybrid/dev data/hybrid/test "$scales" "$bonuses"
    fi
    hybrid_graph_decode exp/hybrid data/lang_hybrid data/lm/3gram.arpa $hnn/dev $hnn/test "$scales" "$bonuses"
    if [ "$cross_engine" = true ]; then  # the espeak-trained models on Piper's speakers, at espeak dev's points
      for m in exp/hybrid/mono exp/hybrid/tri; do
        [ -d $m ] && hybrid_decode_like $m/decode_test data/hybrid/piper/test $m/decode_piper_test
      done
      hybrid_decode_like exp/hybrid/decode_test $hnn/piper/test exp/hybrid/decode_piper_test
    fi
  fi
  done_stage 13
fi
if run_stage 14 "CTC and hybrid side by side"; then
  if [ "$hybrid" = true ]; then
    table=exp/ctc_vs_hybrid.txt
    gmms=exp/hybrid/mono/decode_test
    [ -d exp/hybrid/tri ] && gmms="$gmms exp/hybrid/tri/decode_test"
    dirs="exp/ctc/decode_test_nolm exp/ctc/decode_test_3gram exp/ctc/decode_test_3gram_lexicon $gmms exp/hybrid/decode_test"
    # with --cross-engine true: the same models on Piper's test speakers (CTC's from stage 10)
    [ "$cross_engine" = true ] && dirs="$dirs exp/ctc/decode_piper_test_3gram_lexicon ${gmms//decode_test/decode_piper_test} exp/hybrid/decode_piper_test"
    for d in $dirs; do
      if [ -f $d/wer ]; then echo "$d: $(head -n1 $d/wer)"; else echo "$d: not decoded (run its stage)"; fi
    done > $table.tmp
    mv $table.tmp $table
    cat $table
  fi
  done_stage 14
fi
