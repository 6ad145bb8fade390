# Puts the speechseq command on PATH: the project's .venv if there is one, else whatever is installed.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -x "$root/.venv/bin/speechseq" ]; then
  export PATH="$root/.venv/bin:$PATH"
fi
export PYTHONUNBUFFERED=1
