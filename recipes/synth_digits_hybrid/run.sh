#!/usr/bin/env bash
# Connected digits with an LSTM-HMM hybrid, Kaldi style:
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N] [--config FILE]
#   (any setting below as --name value; markers, reruns and logs: ../utils/stages.sh)
#   0 synth corpus   1 MFCC features (the GMM's), and with --nn-feats fbank (the default) 80-dim fbank
#     of the same sets in data/fbank/ for the BLSTMs, as Kaldi's data/train beside data/train_hires;
#     with --augment true first data/train_comb, data/train plus an augmented copy of it (speed, reverb,
#     noise, channel; --perturb true adds VTLP and pitch shifts: ../utils/augment_train.sh, as
#     ../synth_digits does), which the GMM trains on and aligns and the BLSTMs learn from
#   2 lang dir (CMUdict) + word bigram LM
#   3 train-hybrid (monophone GMM on the MFCC [-> triphone tree + GMM, with hybrid.tri_leaves in the
#     config: conf/hybrid_tri_full.yaml] -> align -> BLSTM -> re-align -> BLSTM)
#   4 graphs; decode dev with lattices over acoustic scales x word bonuses, test with the best
#     (the GMMs and the BLSTM with the word bigram; the BLSTM also with conf/digit_loop.txt's grammar: 1-7 digits)
#   5 forced alignment of test (one job per part, as cmd.sh says); word-boundary error against the corpus's word timings
#   6 the CTC model of ../synth_digits (same corpus: run it first, e.g. make demo): its forced
#     alignment of the same test set, boundary error beside the GMM's and the hybrid's
# With --ctc-bootstrap true (stage 7): a phone CTC model on the GMM's MFCC (conf/ctc_phone.yaml),
#   and the hybrid chain started from its forced alignments instead of the GMM's
#   (train-hybrid --ctc-bootstrap, exp/hybrid_ctcboot), decoded and aligned as in stages 4-5:
#   exp/bootstrap.txt, the two bootstraps side by side
# With --cross-engine true (stage 8; needs speechseq[piper]): the same sentences spoken by Piper's neural
#   voice (data/piper, the same seed), its test speakers decoded by the espeak-trained GMM and BLSTM at the
#   points espeak's dev chose (bigram and digit loop): exp/leave_one_engine_out.txt, the hybrid's row of
#   ../synth_digits's leave-one-engine-out evaluation
# With --dry-ali true: stage 0 also writes data/dry/, the same utterances before each voice's room and
#   noise (synth --dry-out), stage 1 gives its train and dev MFCC, and stage 3 trains the GMM on them:
#   the BLSTMs learn the distant speech from alignments made on the close-talking copy, as Kaldi's AMI
#   chain recipes do with use_ihm_ali=true (the synthetic word timings are the dry signal's; full size:
#   mean word-boundary error 18.5 ms against 26.2, WER the same within a few errors, RESULTS). Off by
#   default, as in Kaldi: the GMM rows are then a GMM trained on dry speech decoding reverberant speech
#   (36% WER at the default size, against 13% for the GMM trained on the corpus itself)
# With --word-phones true: stage 2 gives every word phones of its own (CMUdict's, tagged with the word:
#   "oh OW_oh", "zero Z_zero IY_zero R_zero OW_zero"), so no two digits share an HMM state — the
#   whole-word models of classic connected-digit systems, spelled as a Kaldi lexicon.txt for prepare-lang
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh
. ../utils/hybrid.sh

stage=0
stop_stage=100
num_utts=2000
num_speakers=400
seed=0
config=conf/hybrid.yaml
nn_feats=fbank  # the BLSTMs' features: fbank (80-dim, data/fbank/) or mfcc (the GMM's 13, data/)
scales="0.1 0.2 0.5 1.0"
bonuses="0,1,2,4"  # word bonuses rescored from each dev lattice (a comma list)
ctc_recipe=../synth_digits  # stage 6: the recipe whose exp/ctc was trained on this same corpus
ctc_bootstrap=false  # true: stage 7, the hybrid started from a phone CTC model's alignments
phone_ctc_config=conf/ctc_phone.yaml
dry_ali=false  # true: the GMM trains and aligns on data/dry/ (the corpus without rooms and noise)
cross_engine=false  # true: stage 8, the espeak-trained models on Piper's speakers (speechseq[piper])
augment=false  # true: train on data/train plus an augmented copy of it (data/train_comb; twice the training time)
perturb=false  # true (with --augment true): the copy's speakers also move (VTLP, pitch); wide: also formant, tempo, microphone
word_phones=false  # true: each word's own phones (data/local/dict/lexicon.txt), no state shared between digits
settings="num_utts num_speakers seed config nn_feats scales bonuses ctc_recipe ctc_bootstrap phone_ctc_config dry_ali cross_engine augment perturb word_phones"  # recorded in data/.done.N
stage_settings_0="num_utts num_speakers seed dry_ali"; stage_settings_1="nn_feats dry_ali augment perturb seed"; stage_settings_2="word_phones"
stage_settings_3="config seed dry_ali"; stage_settings_4="scales bonuses"; stage_settings_5=""
stage_settings_6="ctc_recipe"; stage_settings_7="ctc_bootstrap phone_ctc_config config seed scales bonuses"
stage_settings_8="cross_engine num_utts num_speakers seed nn_feats"
. ../utils/stages.sh "$@"
for c in "nn_feats fbank mfcc" "ctc_bootstrap false true" "dry_ali false true" "cross_engine false true" "augment false true" "perturb false true wide" "word_phones false true"; do check_choice $c; done
if [ "$augment" = true ] && [ "$dry_ali" = true ]; then
  echo "$0: --augment true and --dry-ali true: data/dry has no augmented copy to align — use one of them" >&2
  exit 2
fi
if [ "$ctc_bootstrap" = true ] && [ "$word_phones" = true ]; then
  echo "$0: --ctc-bootstrap true and --word-phones true: the phone CTC model's units are CMUdict's phones, not the words' own — use one of them" >&2
  exit 2
fi
train=train  # the training set's name under data/ (and data/fbank/)
[ "$augment" = true ] && train=train_comb
nn=data  # the data dirs whose features the BLSTMs read (and decode and align)
[ "$nn_feats" = fbank ] && nn=data/fbank
boot=data  # the data dirs the GMM trains and aligns on
[ "$dry_ali" = true ] && boot=data/dry

if run_stage 0 "synthesise the digits corpus"; then
  dry_out=""; [ "$dry_ali" = true ] && dry_out="--dry-out data/dry"
  speechseq synth digits data --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj" $dry_out
  done_stage 0
fi

if run_stage 1 "MFCC features (13 cepstra; the GMM adds deltas), fbank for the BLSTMs"; then
  [ "$augment" = true ] && ../utils/augment_train.sh data/train data/train_comb "$seed" "$nj" "$perturb"
  for s in $train dev test; do feats_parts data/$s --type mfcc; done
  if [ "$dry_ali" = true ]; then for s in train dev; do feats_parts data/dry/$s --type mfcc; done; fi
  if [ "$nn_feats" = fbank ]; then
    for s in $train dev test; do
      speechseq data copy data/$s $nn/$s
      feats_parts $nn/$s --type fbank --num-mel-bins 80
    done
  fi
  done_stage 1
fi

if run_stage 2 "lang dir and LM"; then
  if [ "$word_phones" = true ]; then
    # CMUdict's pronunciations of the training words, each phone tagged with its word
    speechseq prepare-lang cmudict data/local/lang_cmudict --words-from data/train/text
    mkdir -p data/local/dict
    awk '{ printf "%s", $1; for (i = 2; i <= NF; i++) printf " %s_%s", $i, $1; print "" }' \
      data/local/lang_cmudict/lexicon.txt > data/local/dict/lexicon.txt
    speechseq prepare-lang data/local/dict/lexicon.txt data/lang
  else
    speechseq prepare-lang cmudict data/lang --words-from data/train/text
  fi
  speechseq lm train data/train/text --kaldi-text --order 2 --out data/lm/bigram.arpa
  done_stage 2
fi

if run_stage 3 "train the hybrid"; then
  speechseq train-hybrid $nn/$train --dev $nn/dev --lang data/lang --out exp/hybrid --config "$config" --seed "$seed" \
    --bootstrap-train $boot/$train --bootstrap-dev $boot/dev $(resume_flag)
  done_stage 3
fi

if run_stage 4 "graphs and decoding"; then
  # ../utils/hybrid.sh: HCLG, dev lattices over acoustic scales x word bonuses, test at the best
  hybrid_graph_decode exp/hybrid/mono data/lang data/lm/bigram.arpa data/dev data/test "$scales" "$bonuses"
  if [ -d exp/hybrid/tri ]; then  # the triphone GMM (a config with hybrid.tri_leaves)
    hybrid_graph_decode exp/hybrid/tri data/lang data/lm/bigram.arpa data/dev data/test "$scales" "$bonuses"
  fi
  hybrid_graph_decode exp/hybrid data/lang data/lm/bigram.arpa $nn/dev $nn/test "$scales" "$bonuses"
  # the same BLSTM through the digit-loop grammar instead of the bigram: exp/hybrid/decode_test_graph_loop
  hybrid_graph_decode exp/hybrid data/lang conf/digit_loop.txt $nn/dev $nn/test "$scales" "$bonuses" graph_loop
  done_stage 4
fi

if run_stage 5 "alignment and word boundaries"; then
  # align_parts (../utils/parallel.sh): one align job per part of data/test, merged into one alignment
  align_parts exp/hybrid/mono data/test exp/hybrid/mono/ali_test/words.ctm
  gmms=exp/hybrid/mono/ali_test/words.ctm
  if [ -d exp/hybrid/tri ]; then
    align_parts exp/hybrid/tri data/test exp/hybrid/tri/ali_test/words.ctm
    gmms="$gmms exp/hybrid/tri/ali_test/words.ctm"
  fi
  align_parts exp/hybrid $nn/test exp/hybrid/ali_test/words.ctm
  python ../../benchmarks/word_boundaries.py --speakers data/test data/test/ctm $gmms exp/hybrid/ali_test/words.ctm
  done_stage 5
fi

if run_stage 6 "CTC forced alignment of the same test set"; then
  ctc=$ctc_recipe/exp/ctc
  if [ ! -f $ctc/final.pt ] || ! cmp -s data/test/text $ctc_recipe/data/test/text; then
    echo "stage 6: $ctc/final.pt must be a CTC model of this same corpus (data/test/text identical):" \
      "run $ctc_recipe/run.sh with this recipe's corpus settings first (make demo, for the defaults)" >&2
    exit 1
  fi
  speechseq align $ctc $ctc_recipe/data/test --out exp/ctc_ali_test/words.ctm  # whole: the data dir is the other recipe's
  python ../../benchmarks/word_boundaries.py --speakers data/test data/test/ctm exp/hybrid/mono/ali_test/words.ctm \
    exp/hybrid/ali_test/words.ctm exp/ctc_ali_test/words.ctm
  done_stage 6
fi

if run_stage 7 "the hybrid bootstrapped from a phone CTC model instead of the GMM"; then
  if [ "$ctc_bootstrap" = true ]; then
    $train_cmd train-ctc data/$train --dev data/dev --out exp/ctc_phone --config "$phone_ctc_config" --seed "$seed" $(resume_flag)
    speechseq train-hybrid $nn/$train --dev $nn/dev --lang data/lang --out exp/hybrid_ctcboot --config "$config" \
      --seed "$seed" --ctc-bootstrap exp/ctc_phone --bootstrap-train data/$train --bootstrap-dev data/dev $(resume_flag)
    m=exp/hybrid_ctcboot
    hybrid_graph_decode $m data/lang data/lm/bigram.arpa $nn/dev $nn/test "$scales" "$bonuses"
    align_parts $m $nn/test $m/ali_test/words.ctm
    {
      echo "# the final BLSTM of each chain: test %WER (acoustic scale and word bonus chosen on dev), then"
      echo "# its forced alignment of test against the corpus's word timings"
      for e in exp/hybrid exp/hybrid_ctcboot; do echo "$e: $(head -n1 $e/decode_test/wer)"; done
      python ../../benchmarks/word_boundaries.py --speakers data/test data/test/ctm exp/hybrid/ali_test/words.ctm \
        exp/hybrid_ctcboot/ali_test/words.ctm
    } > exp/bootstrap.txt
    cat exp/bootstrap.txt
  fi
  done_stage 7
fi

if run_stage 8 "leave one engine out: the espeak-trained models on Piper's test speakers"; then
  if [ "$cross_engine" = true ]; then
    # the same sentences (same seed) in Piper's voice; only its test set is decoded here
    speechseq synth digits data/piper --engine piper --num-utts "$num_utts" --num-speakers "$num_speakers" --seed "$seed" -j "$nj"
    speechseq data validate data/piper/test
    feats_parts data/piper/test --type mfcc
    if [ "$nn_feats" = fbank ]; then
      speechseq data copy data/piper/test $nn/piper/test
      feats_parts $nn/piper/test --type fbank --num-mel-bins 80
    fi
    gmms=exp/hybrid/mono; [ -d exp/hybrid/tri ] && gmms="$gmms exp/hybrid/tri"
    for m in $gmms; do hybrid_decode_like $m/decode_test data/piper/test $m/decode_piper_test; done
    hybrid_decode_like exp/hybrid/decode_test $nn/piper/test exp/hybrid/decode_piper_test
    hybrid_decode_like exp/hybrid/decode_test_graph_loop $nn/piper/test exp/hybrid/decode_piper_test_graph_loop
    table=exp/leave_one_engine_out.txt
    row() {  # NAME ESPEAK_DECODE PIPER_DECODE: the two %WER and their ratio
      local a b
      a=$(head -n1 "$2/wer" | cut -d' ' -f2) b=$(head -n1 "$3/wer" | cut -d' ' -f2)
      printf '%-26s %-12s %-12s %s\n' "$1" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "-" }')"
    }
    {
      echo "# %WER of the espeak-trained models on espeak's held-out voices and on Piper's test speakers (same sentences)"
      printf '%-26s %-12s %-12s %s\n' model espeak piper ratio
      for m in $gmms exp/hybrid; do row $m $m/decode_test $m/decode_piper_test; done
      row "exp/hybrid (digit loop)" exp/hybrid/decode_test_graph_loop exp/hybrid/decode_piper_test_graph_loop
    } > $table.tmp
    mv $table.tmp $table
    cat $table
  fi
  done_stage 8
fi
