#!/usr/bin/env bash
# Query-by-example spoken-term search on the synthetic espeak-ng "words" corpus.
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N] [--config FILE]
#   (any setting below as --name value; markers, reruns and logs: ../utils/stages.sh)
#   0 synth words (train / archive / queries, held-out speakers)   1 validate   2 features (40-dim fbank)
#   3 train the segment embedder   4 embed the archive (sliding windows) and build the index
#   5 search one query   6 eval-std: MAP, P@10, P@N and time per query, embedder vs segmental DTW -> RESULTS
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0; stop_stage=100; num_utts=2000; seed=0; config=conf/embed.yaml
settings="num_utts seed config"  # recorded in data/.done.N
stage_settings_0="num_utts seed"; stage_settings_1=""; stage_settings_2=""; stage_settings_3="config seed"
stage_settings_4=""; stage_settings_5=""; stage_settings_6=""  # per stage
. ../utils/stages.sh "$@"

if run_stage 0 "synthesise the words corpus"; then
  speechseq synth words data --num-utts "$num_utts" --seed "$seed" -j "$nj"; done_stage 0
fi
if run_stage 1 "validate"; then
  for s in train archive queries; do speechseq data validate data/$s; done; done_stage 1
fi
if run_stage 2 "fbank features"; then
  for s in train archive queries; do speechseq compute-feats data/$s --type fbank --num-mel-bins 40 -j "$nj"; done; done_stage 2
fi
if run_stage 3 "train the segment embedder on ctm word segments"; then
  speechseq train-embedder data/train --out exp/embedder --config "$config" --seed "$seed" $(resume_flag); done_stage 3
fi
if run_stage 4 "embed the archive and build the index"; then
  speechseq embed exp/embedder data/archive --out exp/archive_vecs
  speechseq index build exp/archive_vecs --out exp/archive_index; done_stage 4
fi
if run_stage 5 "search one spoken query"; then
  q=$(head -n1 data/queries/wav.scp | cut -d' ' -f2)
  echo "query: $q ($(head -n1 data/queries/text | cut -d' ' -f2-))"
  speechseq search "$q" --index exp/archive_index --top-k 5 --export exp/hits; done_stage 5
fi
if run_stage 6 "evaluate spoken-term detection, embedder vs DTW"; then
  speechseq eval-std --index exp/archive_index --queries data/queries --ref data/archive/ctm --out exp/eval_std | tee RESULTS
  done_stage 6
fi
