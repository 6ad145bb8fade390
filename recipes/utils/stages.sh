# Sourced by recipes after they set their defaults:  . ../utils/stages.sh "$@"
# The recipe declares its settings first, one variable each, and names them in `settings`:
#   stage=0; stop_stage=100; num_utts=2000; config=conf/ctc.yaml
#   settings="num_utts config"   # what the stages' results depend on; recorded in the markers
#   stage_settings_4="config"    # optional: the settings stage 4 depends on (default: all)
# Conventions shared by every recipe:
#   --stage N / --stop-stage N select stages; --name value sets any setting (--num-utts 8000);
#   an unknown option or a missing value exits 2 before any stage runs. --nj N (from cmd.sh) is
#   accepted too; it changes speed, not results, so markers do not record it.
#   A finished stage leaves data/.done.N holding the settings it ran with (a hash and the values,
#   with the sha256 of any setting that names a file, such as a config): all the recipe's
#   settings, or those stage_settings_N names. A run that names no
#   --stage skips a stage whose marker matches today's settings; if the settings differ it says
#   which, and redoes that stage and every later one. An explicit --stage N reruns stage N and
#   the selected stages after it, whatever the markers say. Starting a stage removes its own
#   marker and those of later stages (they were made from its old output).
#   A stage that starts leaves data/.started.N; if it is interrupted, the next run of it with the
#   same settings has stage_resume=true and `$(resume_flag)` gives --resume (continue the
#   training), otherwise --overwrite (a new model: old checkpoints are never continued with
#   other settings or data).
#   Each stage's output also goes to exp/log/stage<N>.<name>.log; a failing command stops the
#   recipe with its exit code (set -euo pipefail in run.sh) and the log named on stderr.

stage_given=false
while [ $# -gt 0 ]; do
  case "$1" in
    --*)
      name=$(echo "${1#--}" | tr - _)
      case " stage stop_stage nj ${settings-} " in
        *" $name "*) known=true ;;
        *) known=false ;;
      esac
      if [ "$known" = false ] || [ -z "${!name+set}" ] || [ $# -lt 2 ]; then
        echo "$0: unknown option $1 (or no value given) — known: --stage --stop-stage --nj$(for s in ${settings-}; do printf ' --%s' "${s//_/-}"; done)" >&2
        exit 2
      fi
      [ "$name" = stage ] && stage_given=true
      printf -v "$name" '%s' "$2"; shift 2 ;;
    *) echo "$0: unexpected argument $1" >&2; exit 2 ;;
  esac
done
unset name known
for _v in stage stop_stage; do
  if ! [[ "${!_v}" =~ ^[0-9]+$ ]]; then
    echo "$0: --${_v//_/-} ${!_v}: must be a stage number (0, 1, ...)" >&2
    exit 2
  fi
done
unset _v

# Settings a stage depends on: stage_settings_N="num_utts seed" in the recipe, or all of them.
for _v in $(compgen -A variable stage_settings_); do
  for _s in ${!_v}; do
    case " ${settings-} " in
      *" $_s "*) ;;
      *) echo "$0: $_v names '$_s', which is not in settings=\"${settings-}\" — fix the recipe" >&2; exit 2 ;;
    esac
  done
done
unset _v _s

# check_choice NAME CHOICE...: exit 2 (a usage error, before any stage runs) unless setting NAME
# is one of the CHOICEs: "--name value: use a, b or c". Recipes call it after sourcing this file.
check_choice() {
  local name=$1 c list=""
  shift
  for c; do [ "${!name}" = "$c" ] && return 0; done
  while [ $# -gt 2 ]; do list="$list$1, "; shift; done
  echo "$0: --${name//_/-} ${!name}: use $list$1 or $2" >&2
  exit 2
}

_stage_deps() {
  local v="stage_settings_$1"
  if [ -n "${!v+set}" ]; then echo "${!v}"; else echo "${settings-}"; fi
}

# _stage_settings N: the "name=value" lines stage N's marker records, today's values.
_stage_settings() {
  local s v
  for s in $(_stage_deps "$1"); do
    v=${!s}
    if [ -f "$v" ]; then
      echo "$s=$v (sha256 $(sha256sum < "$v" | cut -c1-16))"
    else
      echo "$s=$v"
    fi
  done
}

_stage_hash() { _stage_settings "$1" | sha256sum | cut -c1-16; }

_stage_log=""
_stage_num=""
_stage_on_exit() {
  local rc=$?
  if [ -n "$_stage_log" ]; then
    exec 1>&7 2>&8 7>&- 8>&-  # closes the tee pipes: they flush and end
    wait "$_stage_tee_out" "$_stage_tee_err" 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
      echo "$0: stage $_stage_num failed (exit $rc) — see $_stage_log" >&2
    fi
  fi
  exit "$rc"
}
trap _stage_on_exit EXIT

# _stage_end_log: stop copying output into the current stage's log.
_stage_end_log() {
  if [ -n "$_stage_log" ]; then
    exec 1>&7 2>&8 7>&- 8>&-
    wait "$_stage_tee_out" "$_stage_tee_err" 2>/dev/null || true
    _stage_log=""
  fi
}

# _stage_changes N MARKER: "name old -> new" for each setting that differs from the marker's.
_stage_changes() {
  local s line old deps
  deps=$(_stage_deps "$1")
  for s in $deps; do
    line=$(_stage_settings "$1" | grep "^$s=")
    old=$(grep "^$s=" "$2" || true)
    [ "$old" = "$line" ] || printf '%s %s -> %s; ' "$s" "${old#*=}" "${line#*=}"
  done | sed 's/; $//'
  grep -o "^[a-z_0-9]*=" "$2" | tr -d = | while read -r s; do
    case " $deps " in *" $s "*) ;; *) printf '; %s no longer recorded' "$s" ;; esac
  done
}

# run_stage N NAME: true when stage N is selected and has to run; then its output is logged.
run_stage() {
  local n=$1 name=$2 marker="data/.done.$1" m why=""
  _stage_end_log
  [ "$n" -ge "$stage" ] && [ "$n" -le "$stop_stage" ] || return 1
  if [ "$stage_given" = false ] && [ -f "$marker" ]; then
    if [ "$(sed -n 's/^hash //p' "$marker")" = "$(_stage_hash "$n")" ]; then
      echo "stage $n ($name): done before with these settings, skipping (rm $marker to redo)"
      return 1
    fi
    if grep -q '^hash ' "$marker"; then
      why="settings changed since $marker was written: $(_stage_changes "$n" "$marker")"
    else
      why="$marker records no settings (an older recipe made it)"
    fi
    why="$why — redoing stage $n and the stages after it"
  fi
  # An attempt of this stage that was interrupted (data/.started.N, no .done.N) with the same
  # settings is continued (stage_resume=true: resume_flag gives --resume); anything else starts
  # afresh (--overwrite), so a model of other settings is never continued or reported.
  stage_resume=false
  local started="data/.started.$n"
  if [ -f "$started" ] && [ ! -f "$marker" ]; then
    if [ "$(sed -n 's/^hash //p' "$started")" = "$(_stage_hash "$n")" ]; then
      stage_resume=true
      why="${why:+$why; }continuing the interrupted attempt with the same settings ($started)"
    else
      why="${why:+$why; }the interrupted attempt had other settings ($(_stage_changes "$n" "$started")): starting afresh"
    fi
  fi
  # later markers were made from this stage's old output
  for m in data/.done.* data/.started.*; do
    [ -f "$m" ] || continue
    case "$m" in
      data/.done.*) [ "${m##*.}" -ge "$n" ] 2>/dev/null && rm -f "$m" ;;
      data/.started.*) [ "${m##*.}" -gt "$n" ] 2>/dev/null && rm -f "$m" ;;
    esac
  done
  _stage_write_marker "$n" "$started" "started"
  mkdir -p exp/log
  _stage_num=$n
  _stage_log="exp/log/stage$n.$(echo "$name" | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' - | cut -c1-40 | sed 's/^-*//; s/-*$//').log"
  : > "$_stage_log"
  exec 7>&1 8>&2
  exec > >(tee -a "$_stage_log")
  _stage_tee_out=$!
  exec 2> >(tee -a "$_stage_log" >&8)
  _stage_tee_err=$!
  echo "== stage $n: $name =="
  [ -z "$why" ] || echo "stage $n: $why"
  echo "log: $_stage_log"
}

# _stage_write_marker N FILE WHAT: FILE records today's settings of stage N, written atomically.
_stage_write_marker() {
  mkdir -p data
  {
    echo "# stage $1 of $0 $3 $(date -u +%Y-%m-%dT%H:%M:%SZ) with these settings; rm this file to redo it"
    echo "hash $(_stage_hash "$1")"
    _stage_settings "$1"
  } > "$2.tmp"
  mv -f "$2.tmp" "$2"
}

# done_stage N: mark stage N finished with today's settings, so a rerun with them skips it.
done_stage() {
  _stage_write_marker "$1" "data/.done.$1" "finished"
  rm -f "data/.started.$1"
  _stage_end_log
}

# resume_flag: --resume when the running stage continues an interrupted attempt with the same
# settings, else --overwrite (for train-* commands: a new model, never the old one continued).
resume_flag() { if [ "${stage_resume-false}" = true ]; then echo --resume; else echo --overwrite; fi; }
