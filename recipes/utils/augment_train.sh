#!/usr/bin/env bash
# Usage: ../utils/augment_train.sh TRAIN OUT SEED NJ PERTURB
# OUT = TRAIN plus one augmented copy of it (TRAIN_aug: speed 0.9/1.0/1.1, reverberation, noise,
# a channel filter with chance 0.5; with PERTURB true also the speaker: VTLP and a pitch shift,
# each with chance 0.5; with PERTURB wide also a formant shift, a tempo change and a microphone
# response, each with chance 0.5): the training set of a recipe run with --augment true.
set -euo pipefail
train=$1 out=$2 seed=$3 nj=$4 perturb=$5
speaker=()
case $perturb in
  true) speaker=(--vtlp-prob 0.5 --pitch-prob 0.5) ;;
  wide) speaker=(--vtlp-prob 0.5 --pitch-prob 0.5 --formant-prob 0.5 --tempo-prob 0.5 --mic-prob 0.5) ;;
esac
speechseq data augment "$train" "${train}_aug" --copies 1 --channel-prob 0.5 "${speaker[@]}" --seed "$seed" -j "$nj"
speechseq data combine "$out" "$train" "${train}_aug"
