# Training on both synthesis engines, all of each (the recipes' --both union, stage 9): every
# espeak training utterance (TRAIN: with its augmented copy under --augment true) and every Piper
# one (data/piper/train; under --augment true it gets its own copy, augmented and perturbed as
# the espeak one), features included, combined into OUT. Reads augment, perturb, seed and nj.
#   both_engines_train TRAIN OUT
# An interrupted stage continued with the same settings (stages.sh's stage_resume) reuses the
# union its attempt finished (data combine writes OUT whole, after the copy and its features:
# about 5 minutes at the full size); any other attempt removes OUT first and builds it anew.
both_engines_train() {
  local espeak=$1 out=$2 piper=data/piper/train
  if [ "${stage_resume:-false}" = true ] && [ -s "$out/feats.scp" ]; then
    echo "$out: made by the interrupted attempt with these settings, reused"
    return 0
  fi
  rm -rf "$out"
  if [ "$augment" = true ]; then
    ../utils/augment_train.sh data/piper/train data/piper/train_comb "$seed" "$nj" "$perturb"
    piper=data/piper/train_comb
    feats_parts $piper --type fbank --num-mel-bins 80
  fi
  speechseq data combine "$out" "$espeak" "$piper"
}

# --both: mix (data/mix/train: every other speaker a Piper one, the size of data/train, so
# training on both costs what training on one does; exp/ctc_mix) or union (every utterance of
# both engines, twice the training time; exp/ctc_both)
both_model() {
  check_choice both mix union
  case $both in mix) echo ctc_mix ;; union) echo ctc_both ;; esac
}
