#!/usr/bin/env bash
# The node-aware sums and node-shared arrays (src/dist.c), by tests/dist_check.c on several
# layouts: one node of 2, 3 and 4 ranks; imitated nodes (FMTRAIN_NODE_RANKS) of 2 × 2 and 2 × 3
# ranks, whose sums cross "nodes" by MPI; nodes of unequal size (2 + 1), where the sums fall back
# to MPI_Allreduce and the arrays are private; and all of it turned off (FMTRAIN_NODE_SUM=0).
# Each run checks every sum bit for bit against the promised order of addition, on every rank,
# including sums run back to back (which catch a rank overwriting its slot while another still
# reads it) and the sharded sums (each rank's own part and the values after the gradient); the
# arrays' parts, what their owners write, rank 0's broadcast into every node's copy, and the
# node's sums of doubles.
set -eu
cd "$TMPDIR_TEST"
CHECK=${FMTRAIN%/fmtrain}/tests/dist_check
unset FMTRAIN_NODE_RANKS FMTRAIN_NODE_SUM
run() { # label, expected ranks per node, ranks, [VAR=value ...]
    local label=$1 want=$2 np=$3; shift 3
    if ! env "$@" $MPIRUN -np "$np" "$CHECK" >"$label.txt" 2>&1; then
        echo "FAIL dist: $label"; tail -20 "$label.txt"; return 1
    fi
    local per
    per=$(sed -n 's/^RESULT dist: [0-9]* ranks, \([0-9]*\) per node.*/\1/p' "$label.txt")
    [ "$per" = "$want" ] || { echo "FAIL dist: $label: $per ranks per node, expected $want"; return 1; }
    echo "RESULT dist: $label: $(grep '^dist_check:' "$label.txt")"
}
run one-node-2 2 2
run one-node-3 3 3
run one-node-4 4 4
run nodes-2x2 2 4 FMTRAIN_NODE_RANKS=2
run nodes-2x3 3 6 FMTRAIN_NODE_RANKS=3
run unequal-2+1 1 3 FMTRAIN_NODE_RANKS=2
run off-2 1 2 FMTRAIN_NODE_SUM=0
