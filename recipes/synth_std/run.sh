#!/usr/bin/env bash
# Query-by-example spoken-term search on the synthetic espeak-ng "words" corpus.
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N] [--config FILE]
#   (any setting below as --name value; markers, reruns and logs: ../utils/stages.sh)
#   0 synth words (train / archive / queries, held-out speakers)   1 validate   2 features (40-dim fbank)
#   3 train the segment embedder   4 embed the archive (sliding windows; one job per part of it,
#     local or Slurm: embed_parts in ../utils/parallel.sh) and build the index
#   5 search one query   6 eval-std: MAP, P@10, P@N and time per query, embedder vs segmental DTW -> exp/eval_std.txt
#   7 train the contrastive embedder (a discriminative acoustic word embedding, conf/embed_contrastive.yaml)
#   8 embed the archive with it and build its index   9 eval-std of it -> exp/eval_std_contrastive/
#   10 hold out 20 training speakers as a dev set for CTC   11 train a character CTC model (conf/ctc.yaml)
#   12 the contrastive embedder started from the CTC encoder (--init-from exp/ctc --init-part encoder)
#   13 embed the archive with it, build its index   14 eval-std of it, with DTW on the CTC posteriorgrams
# Terms inside sentences, and ATWV at a threshold chosen on dev queries:
#   15 the commands archive: synth commands-std data/commands (train, archive: commands sentences;
#      queries: one-word and two-word terms of the archive by other voices), validate, features
#   16 train the contrastive embedder on its training sentences' ctm words (exp/embedder_commands)
#   17 embed its archive (windows of 0.3-1.2 s: two-word terms are longer) and build the index
#   18 eval-std on its queries, embedder and DTW: half the query speakers are dev queries, whose
#      MTWV threshold is each method's YES threshold on the other half (ATWV) -> exp/eval_std_commands/
#   19 the same dev / eval split on the words archive, contrastive embedder and DTW -> exp/eval_std_words/
#   (18 and 19 add DTW on the words CTC model's posteriorgrams, dtw-pg, when stage 11 has made exp/ctc)
# Windows that are not a word as negatives (search compares queries with such archive windows):
#   20 the contrastive embedder with window negatives (conf/embed_contrastive_negs.yaml)
#   21 embed the words archive with it, build its index
#   22 eval-std of it on every query -> exp/eval_std_negs/, and ATWV at dev thresholds -> exp/eval_std_words_negs/
# The written view (multi-view training, He et al. 2017) on top of the window negatives:
#   23 the contrastive embedder with window negatives and embed.text_weight (conf/embed_multiview.yaml)
#   24 embed the words archive with it, build its index
#   25 eval-std of it -> exp/eval_std_multiview/, and ATWV at dev thresholds -> exp/eval_std_words_multiview/
# Cut where words begin and end instead of in fixed windows (a word-boundary detector learnt from
# the training set's word timings, speechseq train-segmenter):
#   26 train the segmenter (conf/segmenter.yaml)   27 train an embedder for its cuts (conf/embed_cuts.yaml)
#      on data/train and, with cuts_perturb=true, a speaker-perturbed copy of it (VTLP, pitch, formant and
#      tempo shifts; no noise or reverberation): data/train_perturbed, both in data/train_perturbed_all
#   28 cut the archive at detected boundaries (speechseq segment), embed the cuts, build the index
#   29 eval-std with each query cut by the segmenter too -> exp/eval_std_cuts/, and ATWV at dev
#      thresholds -> exp/eval_std_words_cuts/
# The same on the commands archive (terms inside sentences; after stages 15-16):
#   30 train a segmenter on the commands training sentences' word timings (exp/segmenter_commands)
#   31 cut the commands archive at its boundaries (spans over 1..commands_span boundaries: a two-word
#      term spans two or three), embed the cuts with exp/embedder_commands, build the index
#   32 eval-std with each query cut by it, embedder and DTW, ATWV at dev thresholds -> exp/eval_std_commands_cuts/
# (29, 32 and 35 also search with average query expansion over each query's `expand` / `commands_expand` /
# `large_expand` nearest cuts: embed-qe; each N chosen on its archive's dev half of the queries)
# A large archive (stage 26's segmenter, 27's embedder, no retraining): every recording of a second words
# corpus of large_utts utterances (seed large_seed), where each term occurs hundreds of times:
#   33 synth it (data/large), validate, features; its train and archive sets are the archive (data/large/all)
#   34 cut it at detected word boundaries, embed the cuts, build the index
#   35 eval-std of every query at --top-k 1000, plain and expanded -> exp/eval_std_large.txt; the
#      embedder against DTW on the first 50 queries (the per-query times) -> exp/eval_std_large_dtw.txt;
#      and the dev and eval halves of the queries (ATWV at dev thresholds) -> exp/eval_std_large_halves.txt
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0; stop_stage=100; num_utts=2000; seed=0; config=conf/embed.yaml
contrastive_config=conf/embed_contrastive.yaml; ctc_config=conf/ctc.yaml
ctc_embed_config=conf/embed_contrastive_ctc.yaml
negs_config=conf/embed_contrastive_negs.yaml
multiview_config=conf/embed_multiview.yaml
segmenter_config=conf/segmenter.yaml; cuts_config=conf/embed_cuts.yaml
commands_utts=2000  # the commands archive's corpus (stage 15): 80% training sentences, 10% archive, 10% queries
commands_widths=0.3,0.5,0.7,0.9,1.2  # archive windows of stage 17 (seconds)
commands_span=3  # stage 31: a cut spans 1..commands_span detected boundaries (segment --span)
cuts_perturb=true  # stage 27: train on data/train plus a speaker-perturbed copy of it
expand=2  # stage 29: query expansion over the nearest N cuts (eval-std --expand; 0: none; 2: best of 1-20 on dev)
commands_expand=2  # stage 32's: a term occurs a few times in the commands archive (2: best of 1-5 on its dev half)
large_utts=10000; large_seed=7  # stage 33: the large archive's corpus
large_expand=20  # stage 35's: a term occurs hundreds of times there (20: best of 5, 10, 20 on its dev half)
settings="num_utts seed config contrastive_config ctc_config ctc_embed_config commands_utts commands_widths negs_config multiview_config segmenter_config cuts_config cuts_perturb commands_span expand commands_expand large_utts large_seed large_expand"  # recorded in data/.done.N
stage_settings_0="num_utts seed"; stage_settings_1=""; stage_settings_2=""; stage_settings_3="config seed"
stage_settings_4=""; stage_settings_5=""; stage_settings_6=""  # per stage
stage_settings_7="contrastive_config seed"; stage_settings_8=""; stage_settings_9=""
stage_settings_10=""; stage_settings_11="ctc_config seed"; stage_settings_12="ctc_embed_config seed"
stage_settings_13=""; stage_settings_14=""
stage_settings_15="commands_utts seed"; stage_settings_16="contrastive_config seed"
stage_settings_17="commands_widths"; stage_settings_18=""; stage_settings_19=""
stage_settings_20="negs_config seed"; stage_settings_21=""; stage_settings_22=""
stage_settings_23="multiview_config seed"; stage_settings_24=""; stage_settings_25=""
stage_settings_26="segmenter_config seed"; stage_settings_27="cuts_config cuts_perturb seed"; stage_settings_28=""
stage_settings_29="expand"; stage_settings_30="segmenter_config seed"; stage_settings_31="commands_span"
stage_settings_32="commands_expand"; stage_settings_33="large_utts large_seed"; stage_settings_34=""
stage_settings_35="large_expand"
. ../utils/stages.sh "$@"

# index_archive EXP VECS INDEX: embed the words archive with EXP (one job per part) and index it
index_archive() { embed_parts "$1" data/archive "$2"; speechseq index build "$2" --out "$3"; }
# eval_words INDEX OUT [EVAL-STD OPTIONS]: eval-std of INDEX on every words query, no DTW -> OUT, OUT.txt
eval_words() {
  local index=$1 out=$2
  shift 2
  speechseq eval-std --index "$index" --queries data/queries --ref data/archive/ctm --no-dtw --out "$out" "$@" | tee "$out.txt"
}

if run_stage 0 "synthesise the words corpus"; then
  speechseq synth words data --num-utts "$num_utts" --seed "$seed" -j "$nj"; done_stage 0
fi
if run_stage 1 "validate"; then
  for s in train archive queries; do speechseq data validate data/$s; done; done_stage 1
fi
if run_stage 2 "fbank features"; then
  for s in train archive queries; do feats_parts data/$s --type fbank --num-mel-bins 40; done; done_stage 2
fi
if run_stage 3 "train the segment embedder on ctm word segments"; then
  $train_cmd train-embedder data/train --out exp/embedder --config "$config" --seed "$seed" $(resume_flag); done_stage 3
fi
if run_stage 4 "embed the archive and build the index"; then
  index_archive exp/embedder exp/archive_vecs exp/archive_index; done_stage 4
fi
if run_stage 5 "search one spoken query"; then
  q=$(head -n1 data/queries/wav.scp | cut -d' ' -f2)
  echo "query: $q ($(head -n1 data/queries/text | cut -d' ' -f2-))"
  speechseq search "$q" --index exp/archive_index --top-k 5 --export exp/hits; done_stage 5
fi
if run_stage 6 "evaluate spoken-term detection, embedder vs DTW"; then
  speechseq eval-std --index exp/archive_index --queries data/queries --ref data/archive/ctm --out exp/eval_std | tee exp/eval_std.txt
  done_stage 6
fi
if run_stage 7 "train the contrastive embedder on ctm word segments"; then
  $train_cmd train-embedder data/train --out exp/embedder_contrastive --config "$contrastive_config" --seed "$seed" $(resume_flag)
  done_stage 7
fi
if run_stage 8 "embed the archive with the contrastive embedder and build its index"; then
  index_archive exp/embedder_contrastive exp/archive_vecs_contrastive exp/archive_index_contrastive; done_stage 8
fi
if run_stage 9 "evaluate spoken-term detection with the contrastive embedder"; then
  eval_words exp/archive_index_contrastive exp/eval_std_contrastive; done_stage 9
fi
if run_stage 10 "hold out 20 training speakers as the CTC dev set"; then
  cut -d' ' -f1 data/train/spk2utt | tail -n 20 > data/ctc_dev_speakers
  cut -d' ' -f1 data/train/spk2utt | head -n -20 > data/ctc_train_speakers
  speechseq data subset data/train data/train_ctc --speakers data/ctc_train_speakers
  speechseq data subset data/train data/dev_ctc --speakers data/ctc_dev_speakers; done_stage 10
fi
if run_stage 11 "train a character CTC model on the words corpus"; then
  $train_cmd train-ctc data/train_ctc --dev data/dev_ctc --out exp/ctc --config "$ctc_config" --seed "$seed" $(resume_flag)
  done_stage 11
fi
if run_stage 12 "train the contrastive embedder from the CTC encoder"; then
  $train_cmd train-embedder data/train --out exp/embedder_contrastive_ctc --config "$ctc_embed_config" --seed "$seed" \
    --init-from exp/ctc --init-part encoder $(resume_flag); done_stage 12
fi
if run_stage 13 "embed the archive with the CTC-initialised embedder and build its index"; then
  index_archive exp/embedder_contrastive_ctc exp/archive_vecs_contrastive_ctc exp/archive_index_contrastive_ctc
  done_stage 13
fi
if run_stage 14 "evaluate the CTC-initialised embedder, and DTW on the CTC posteriorgrams"; then
  eval_words exp/archive_index_contrastive_ctc exp/eval_std_contrastive_ctc --posteriorgram exp/ctc; done_stage 14
fi

# halves QUERIES: QUERIES_dev (the first half of its speakers) and QUERIES_eval (the others)
halves() {
  local q=$1 n
  n=$(wc -l < "$q/spk2utt")
  cut -d' ' -f1 "$q/spk2utt" | head -n $((n / 2)) > "$q.dev_speakers"
  cut -d' ' -f1 "$q/spk2utt" | tail -n +$((n / 2 + 1)) > "$q.eval_speakers"
  speechseq data subset "$q" "${q}_dev" --speakers "$q.dev_speakers"
  speechseq data subset "$q" "${q}_eval" --speakers "$q.eval_speakers"
}

# dev_eval_std INDEX QUERIES REF OUT [EVAL-STD OPTIONS]: eval-std on QUERIES_dev, then on
# QUERIES_eval with each method's dev MTWV threshold as its YES threshold (OUT/dev, OUT/eval)
dev_eval_std() {
  local index=$1 q=$2 ref=$3 out=$4
  shift 4
  speechseq eval-std --index "$index" --queries "${q}_dev" --ref "$ref" --out "$out/dev" "$@"
  speechseq eval-std --index "$index" --queries "${q}_eval" --ref "$ref" --out "$out/eval" \
    --thresholds-from "$out/dev/results.json" "$@" | tee "$out.txt"
}

# pg_option: eval-std's --posteriorgram exp/ctc when stage 11 has trained the CTC model
pg_option() { if [ -f exp/ctc/final.pt ]; then echo "--posteriorgram exp/ctc"; fi; }

if run_stage 15 "the commands archive: terms inside sentences"; then
  speechseq synth commands-std data/commands --num-utts "$commands_utts" --seed "$seed" -j "$nj"
  for s in train archive queries; do
    speechseq data validate data/commands/$s
    feats_parts data/commands/$s --type fbank --num-mel-bins 40
  done
  done_stage 15
fi
if run_stage 16 "train the contrastive embedder on the commands sentences' words"; then
  $train_cmd train-embedder data/commands/train --out exp/embedder_commands --config "$contrastive_config" \
    --seed "$seed" $(resume_flag); done_stage 16
fi
if run_stage 17 "embed the commands archive and build its index"; then
  embed_parts exp/embedder_commands data/commands/archive exp/commands_archive_vecs --widths "$commands_widths"
  speechseq index build exp/commands_archive_vecs --out exp/commands_archive_index; done_stage 17
fi
if run_stage 18 "spoken-term detection in the commands archive, ATWV at dev thresholds"; then
  halves data/commands/queries
  dev_eval_std exp/commands_archive_index data/commands/queries data/commands/archive/ctm exp/eval_std_commands $(pg_option)
  done_stage 18
fi
if run_stage 19 "the words archive: ATWV at dev thresholds (contrastive embedder, DTW)"; then
  halves data/queries
  dev_eval_std exp/archive_index_contrastive data/queries data/archive/ctm exp/eval_std_words $(pg_option)
  done_stage 19
fi
if run_stage 20 "train the contrastive embedder with window negatives"; then
  $train_cmd train-embedder data/train --out exp/embedder_negs --config "$negs_config" --seed "$seed" $(resume_flag)
  done_stage 20
fi
if run_stage 21 "embed the archive with the window-negatives embedder and build its index"; then
  index_archive exp/embedder_negs exp/archive_vecs_negs exp/archive_index_negs; done_stage 21
fi
# eval_embedder NAME: eval-std of exp/archive_index_NAME on every words query (exp/eval_std_NAME),
# then ATWV on the eval half at the dev half's thresholds (exp/eval_std_words_NAME); no DTW
eval_embedder() {
  eval_words "exp/archive_index_$1" "exp/eval_std_$1"
  [ -d data/queries_dev ] || halves data/queries
  dev_eval_std "exp/archive_index_$1" data/queries data/archive/ctm "exp/eval_std_words_$1" --no-dtw
}
if run_stage 22 "evaluate the window-negatives embedder; ATWV at dev thresholds"; then
  eval_embedder negs; done_stage 22
fi
if run_stage 23 "train the multi-view embedder: window negatives and the written view"; then
  $train_cmd train-embedder data/train --out exp/embedder_multiview --config "$multiview_config" --seed "$seed" $(resume_flag)
  done_stage 23
fi
if run_stage 24 "embed the archive with the multi-view embedder and build its index"; then
  index_archive exp/embedder_multiview exp/archive_vecs_multiview exp/archive_index_multiview; done_stage 24
fi
if run_stage 25 "evaluate the multi-view embedder; ATWV at dev thresholds"; then
  eval_embedder multiview; done_stage 25
fi
if run_stage 26 "train the word-boundary detector on the training set's word timings"; then
  $train_cmd train-segmenter data/train --out exp/segmenter --config "$segmenter_config" --seed "$seed" $(resume_flag)
  done_stage 26
fi
if run_stage 27 "train an embedder for the segmenter's cuts"; then
  cuts_train=data/train
  if [ "$cuts_perturb" = true ]; then
    # new voices from the training voices: every copy's vocal tract warped (VTLP 0.85-1.15), most
    # pitch-shifted, some formant- or tempo-shifted; no noise or rooms (the archive has none)
    cuts_train=data/train_perturbed_all
    # made afresh unless this continues an interrupted attempt with the same settings (seed included)
    if [ "${stage_resume-false}" != true ] || [ ! -f $cuts_train/feats.scp ]; then
      rm -rf data/train_perturbed $cuts_train
      speechseq data augment data/train data/train_perturbed --copies 1 --speeds 1.0 --vtlp-prob 1.0 \
        --pitch-prob 0.7 --formant-prob 0.3 --tempo-prob 0.5 --noise-prob 0 --reverb-prob 0 --prefix spk \
        --seed $((seed + 1)) -j "$nj"
      speechseq data combine $cuts_train data/train data/train_perturbed
      feats_parts $cuts_train --type fbank --num-mel-bins 40
    fi
  fi
  $train_cmd train-embedder $cuts_train --out exp/embedder_cuts --config "$cuts_config" --seed "$seed" $(resume_flag)
  done_stage 27
fi
if run_stage 28 "cut the archive at detected word boundaries, embed the cuts, build the index"; then
  speechseq segment exp/segmenter data/archive --out exp/archive_cuts
  speechseq embed exp/embedder_cuts data/archive --segments segments --ctm exp/archive_cuts --out exp/archive_vecs_cuts
  speechseq index build exp/archive_vecs_cuts --out exp/archive_index_cuts; done_stage 28
fi
if run_stage 29 "evaluate search over the cuts, queries cut by the segmenter; ATWV at dev thresholds"; then
  eval_words exp/archive_index_cuts exp/eval_std_cuts --query-segmenter exp/segmenter --expand "$expand"
  [ -d data/queries_dev ] || halves data/queries
  dev_eval_std exp/archive_index_cuts data/queries data/archive/ctm exp/eval_std_words_cuts --no-dtw \
    --query-segmenter exp/segmenter --expand "$expand"
  done_stage 29
fi
if run_stage 30 "train a word-boundary detector on the commands sentences' word timings"; then
  $train_cmd train-segmenter data/commands/train --out exp/segmenter_commands --config "$segmenter_config" \
    --seed "$seed" $(resume_flag); done_stage 30
fi
if run_stage 31 "cut the commands archive at detected word boundaries, embed the cuts, build the index"; then
  speechseq segment exp/segmenter_commands data/commands/archive --span "$commands_span" --out exp/commands_archive_cuts
  speechseq embed exp/embedder_commands data/commands/archive --segments segments --ctm exp/commands_archive_cuts \
    --out exp/commands_archive_vecs_cuts
  speechseq index build exp/commands_archive_vecs_cuts --out exp/commands_archive_index_cuts; done_stage 31
fi
if run_stage 32 "spoken-term detection in the commands archive over the cuts, queries cut too; ATWV at dev thresholds"; then
  [ -d data/commands/queries_dev ] || halves data/commands/queries
  dev_eval_std exp/commands_archive_index_cuts data/commands/queries data/commands/archive/ctm \
    exp/eval_std_commands_cuts --query-segmenter exp/segmenter_commands --expand "$commands_expand"; done_stage 32
fi
if run_stage 33 "a large archive: a second words corpus, every recording of it"; then
  rm -rf data/large
  speechseq synth words data/large --num-utts "$large_utts" --seed "$large_seed" -j "$nj"
  speechseq data combine data/large/all data/large/train data/large/archive
  for s in all queries; do speechseq data validate data/large/$s; feats_parts data/large/$s --type fbank --num-mel-bins 40; done
  done_stage 33
fi
if run_stage 34 "cut the large archive at detected word boundaries, embed the cuts, build the index"; then
  speechseq segment exp/segmenter data/large/all --out exp/large_cuts
  speechseq embed exp/embedder_cuts data/large/all --segments segments --ctm exp/large_cuts --out exp/large_vecs
  speechseq index build exp/large_vecs --out exp/large_index; done_stage 34
fi
if run_stage 35 "search the large archive: every query plain and expanded, then 50 queries against DTW"; then
  # --top-k 1000: a term occurs hundreds of times, and MAP counts the hits ranked
  speechseq eval-std --index exp/large_index --queries data/large/queries --ref data/large/all/ctm --no-dtw \
    --top-k 1000 --query-segmenter exp/segmenter --expand "$large_expand" --out exp/eval_std_large | tee exp/eval_std_large.txt
  speechseq eval-std --index exp/large_index --queries data/large/queries --ref data/large/all/ctm --max-queries 50 \
    --query-segmenter exp/segmenter --expand "$large_expand" --out exp/eval_std_large_dtw | tee exp/eval_std_large_dtw.txt
  [ -d data/large/queries_dev ] || halves data/large/queries
  dev_eval_std exp/large_index data/large/queries data/large/all/ctm exp/eval_std_large_halves --no-dtw --top-k 1000 \
    --query-segmenter exp/segmenter --expand "$large_expand"
  done_stage 35
fi
