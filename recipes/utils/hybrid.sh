# Sourced by the recipes with LSTM-HMM hybrid stages (synth_digits_hybrid, synth_commands).
#   hybrid_graph_decode MODEL LANG G DEV TEST SCALES BONUSES [NAME]
# makes MODEL/NAME (default graph: HCLG of LANG and G, an ARPA LM (*.arpa) or a grammar file),
# decodes DEV with lattices at every acoustic scale of SCALES (space separated; one search each,
# its lattice rescored at every word bonus of BONUSES, a comma list; a GMM: see below), keeps the
# dev point with the lowest WER (as Kaldi's score.sh) and decodes TEST with it into
# MODEL/decode_test (decode_test_NAME for another NAME; one job per part of TEST: decode_parts in
# parallel.sh).
# A GMM's scores (MODEL/gmm.npz) are searched with FasterDecoder, without lattices, so its dev grid
# is the acoustic scales alone (word bonus 0): GMM log-likelihoods spread widely per frame, and the
# lattice decoder (kaldi-decoder's LatticeSimpleDecoder, which prunes like Kaldi's SimpleDecoder)
# loses the best path at beam 13 where FasterDecoder keeps it (a digits GMM at acoustic scale 0.5:
# %WER 24.36 with the lattice at beam 13, 13.46 without it, 13.46 with it at beam 30;
# synth_digits_hybrid's RESULTS says how that was measured), while at beam 30 the lattice search is
# slower than real time (the commands GMM: 2.37 x real time; FasterDecoder at beam 13: RTF 0.009).
# gmm_lattice=true (environment) keeps the lattices for a GMM too, at beam gmm_beam (30).
gmm_beam=${gmm_beam:-30}; gmm_lattice=${gmm_lattice:-false}
hybrid_graph_decode() {
  local m=$1 lang=$2 g=$3 dev=$4 test=$5 scales=$6 bonuses=$7 name=${8:-graph} ac best wb beam=13 out
  local lat="--lattice --word-bonus"  # the search's lattice options, before the bonus (or bonuses)
  if [ -f "$m/gmm.npz" ]; then
    if [ "$gmm_lattice" = true ]; then beam=$gmm_beam; else lat=""; fi  # "": FasterDecoder
  fi
  local gopt=--grammar grid="$m"/decode_"$(basename "$dev")"_graph_"$name"_ac
  case $g in *.arpa) gopt=--lm ;; esac
  speechseq mkgraph "$lang" "$m" $gopt "$g" --out "$m/$name"
  rm -rf "$grid"*  # an earlier run's grid: only this run's are compared
  for ac in $scales; do
    speechseq decode "$m" "$dev" --graph "$m/$name" --beam "$beam" --acoustic-scale "$ac" ${lat:+$lat $bonuses}
  done
  # the dev point with the lowest WER: "WER acoustic_scale word_bonus"
  best=$(for d in "$grid"*; do
    python -c 'import json,sys; r=json.load(open(sys.argv[1])); o=r["options"]; print(r["wer"], o["acoustic_scale"], o["word_bonus"])' "$d/results.json"
  done | sort -n -k1,1 | head -1)
  read -r _ ac wb <<< "$best"
  local tag="" ; out=$m/decode_test
  [ "$name" = graph ] || { tag=" ($name)"; out=${out}_$name; }
  echo "$m$tag: acoustic scale $ac, word bonus $wb (best on dev: %WER ${best%% *})"
  decode_parts "$m" "$test" "$out" --graph "$m/$name" --beam "$beam" --acoustic-scale "$ac" ${lat:+$lat $wb}
  echo "$m test$tag: $(head -1 "$out/wer")"
}
# hybrid_decode_like DECODE TEST OUT: TEST decoded into OUT by the model that made DECODE (a decode
# dir of hybrid_graph_decode, MODEL/decode_test), with the graph and options DECODE was made with:
# its dev-chosen acoustic scale and word bonus, as Kaldi scores every eval set at dev's LMWT.
hybrid_decode_like() {
  local d=$1 test=$2 out=$3 opts
  opts=$(python - "$d/results.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))["options"]
a = f"--graph {o['graph']} --beam {o['beam']:g} --max-active {o['max_active']} --acoustic-scale {o['acoustic_scale']:g}"
if o["lattice"]:
    a += f" --lattice --lattice-beam {o['lattice_beam']:g} --lm-weight {o['lm_weight']:g} --word-bonus {o['word_bonus']:g}"
print(a)
PY
)
  decode_parts "$(dirname "$d")" "$test" "$out" $opts
  echo "$(dirname "$d") $(basename "$out"): $(head -1 "$out/wer")"
}
