# Sourced by recipes after they set their defaults:  . ../utils/stages.sh "$@"
# Parses --name value options into the variables the recipe defined (--stop-stage -> stop_stage),
# as Kaldi's utils/parse_options.sh does, and gives the recipe run_stage / done_stage.
while [ $# -gt 0 ]; do
  case "$1" in
    --*)
      name=$(echo "${1#--}" | tr - _)
      if [ -z "${!name+set}" ] || [ $# -lt 2 ]; then
        echo "$0: unknown option $1 (or no value given) — known: --stage --stop-stage and the recipe's settings" >&2
        exit 2
      fi
      printf -v "$name" '%s' "$2"; shift 2 ;;
    *) echo "$0: unexpected argument $1" >&2; exit 2 ;;
  esac
done

# run_stage N NAME: true when stage N is selected and not done before (data/.done.N).
run_stage() {
  local n=$1 name=$2
  [ "$n" -ge "$stage" ] && [ "$n" -le "$stop_stage" ] || return 1
  if [ -f "data/.done.$n" ]; then
    echo "stage $n ($name): done before, skipping (rm data/.done.$n to redo)"
    return 1
  fi
  echo "== stage $n: $name =="
}

# done_stage N: mark stage N finished, so a rerun skips it.
done_stage() { mkdir -p data; touch "data/.done.$1"; }
