# speechseq on PATH (see ../utils/path.sh)
. ../utils/path.sh
