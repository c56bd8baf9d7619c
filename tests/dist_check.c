/* dist_check.c - the sums of fm_dist_sum_buffer's buffers, under mpirun (tests/test_dist.sh runs
 * it on several layouts: 1-4 ranks, nodes imitated with FMTRAIN_NODE_RANKS, the node-aware sums
 * off).
 *
 * Each value of rank r is a function of (r, i, round), so every rank knows every rank's values
 * and checks the sum it receives against the one the design promises, bit for bit: the ranks of a
 * node added in the order of their node-local ranks, then the nodes' sums added (with one or two
 * nodes, the order of that addition does not change a float result; with more, MPI_Allreduce's
 * order is its own, and fractional sums are checked to float rounding). Integer-valued rounds
 * check the sum exactly on every layout; successive rounds rewrite the buffers at once, so a rank that
 * left a sum early and overwrote its slot while another still read it would corrupt a result.
 */
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/dist.h"
#include "testutil.h"

static float value(int r, size_t i, int round) {
    if (round % 2 == 0) return (float)((long)((i * 2654435761u + (size_t)r * 40503u + (size_t)round) % 1999) - 999);
    /* fractional values of mixed magnitude: their float sum depends on the order */
    uint64_t h = fm_hash_bytes(&(uint64_t[]){(uint64_t)r, i, (uint64_t)round}, 3 * sizeof(uint64_t));
    return (float)((double)(h >> 11) * 0x1p-53 - 0.5) * (float)(1u << (h & 15));
}

/* The promised sum: each node's ranks in order (node k holds ranks k L .. k L + L - 1 when the
 * nodes are imitated; with real or no nodes, one node holds all), then the nodes in order. */
static float expected(size_t i, int round, int P, int L) {
    float total = 0;
    for (int k = 0; k < P / L; k++) {
        float node = value(k * L, i, round);
        for (int q = 1; q < L; q++) node += value(k * L + q, i, round);
        total = k ? total + node : node;
    }
    return total;
}

static int check_size(size_t n, size_t used, int round, int L) {
    const int P = fm_dist_size(), r = fm_dist_rank();
    float *buf = fm_dist_sum_buffer(n);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += buf[i] != 0.0f;
    T_CHECK(bad == 0, "n=%zu: %d values of a new buffer are not zero", n, bad);
    for (int k = 0; k < 3; k++, round += 1) {
        for (size_t i = 0; i < n; i++) buf[i] = value(r, i, round);
        fm_dist_sum_floats(buf, used);
        /* MPI_Allreduce adds in an order of its own: beyond two terms, fractional sums are
         * checked to within float rounding of the promised one */
        const int exact = round % 2 == 0 || P / L <= 2;
        size_t wrong = 0, first = 0;
        for (size_t i = 0; i < used; i++) {
            double mag = 0;
            for (int q = 0; q < P; q++) mag += fabs(value(q, i, round));
            const double d = fabs((double)buf[i] - expected(i, round, P, L));
            if ((exact ? d != 0 : d > 1e-6 * mag) && !wrong++) first = i;
        }
        for (size_t i = used; i < n; i++) /* beyond the summed prefix: untouched */
            if (buf[i] != value(r, i, round) && !wrong++) first = i;
        T_CHECK(wrong == 0, "n=%zu (summed %zu), round %d: %zu values differ from the promised sum, the first at %zu "
                "(%.9g, not %.9g)", n, used, round, wrong, first, first < n ? buf[first] : 0.0,
                first < used ? expected(first, round, P, L) : (double)value(r, first, round));
        /* every rank holds the same bits */
        T_CHECK(fm_dist_same_u64(fm_hash_bytes(buf, used * sizeof(float))), "n=%zu round %d: the ranks' sums differ",
                n, round);
    }
    fm_dist_sum_buffer_free(buf);
    return round;
}

/* Sums back to back: each rank refills its buffer as soon as a sum returns, and the results are
 * checked only at the end, so a rank that returned while another still copied from its slot
 * would corrupt that rank's result. */
static void back_to_back(int L) {
    const int P = fm_dist_size(), r = fm_dist_rank(), rounds = 8;
    const size_t n = (size_t)1 << 20;
    float *buf = fm_dist_sum_buffer(n), *got = fm_malloc_floats(n * rounds);
    for (int k = 0; k < rounds; k++) {
        for (size_t i = 0; i < n; i++) buf[i] = (float)((int)((i + (size_t)k * 7) % 1024) * (r + 1) * (k % 2 ? -1 : 1));
        fm_dist_sum_floats(buf, n);
        memcpy(got + (size_t)k * n, buf, n * sizeof(float));
    }
    size_t wrong = 0;
    for (int k = 0; k < rounds; k++)
        for (size_t i = 0; i < n; i++)
            wrong += got[(size_t)k * n + i] != (float)((int)((i + (size_t)k * 7) % 1024) * P * (P + 1) / 2 * (k % 2 ? -1 : 1));
    T_CHECK(wrong == 0, "back-to-back sums (%d per node): %zu values wrong", L, wrong);
    free(got);
    fm_dist_sum_buffer_free(buf);
}

/* The sharded sum (fm_dist_sum_floats_part): this rank's part of the first `head` values and the
 * values from head on are the promised sums, round after round (fm_dist_node_sync between). */
static int check_part(size_t n, size_t head, int round, int L) {
    const int P = fm_dist_size(), r = fm_dist_rank();
    float *buf = fm_dist_sum_buffer(n);
    size_t k0, k1;
    fm_dist_my_part(head, &k0, &k1);
    for (int k = 0; k < 3; k++, round++) {
        for (size_t i = 0; i < n; i++) buf[i] = value(r, i, round);
        fm_dist_sum_floats_part(buf, n, head);
        const int exact = round % 2 == 0 || P / L <= 2;
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++) {
            if (i < head && (i < k0 || i >= k1)) continue;
            double mag = 0;
            for (int q = 0; q < P; q++) mag += fabs(value(q, i, round));
            const double d = fabs((double)buf[i] - expected(i, round, P, L));
            wrong += exact ? d != 0 : d > 1e-6 * mag;
        }
        T_CHECK(wrong == 0, "part sum n=%zu head=%zu round %d: %zu of this rank's values wrong (part [%zu, %zu))", n,
                head, round, wrong, k0, k1);
        fm_dist_node_sync();
    }
    fm_dist_sum_buffer_free(buf);
    return round;
}

/* Swapping sums (fm_dist_swap_buffer): a buffer where the ranks are one node of L > 1 and the
 * sum reads at most FM_DIST_SWAP_MAX values of the others, else NULL; each sum returns the other
 * slot, holding the promised sum on every rank, bit for bit. The rounds run back to back (each
 * rank writes its next values as soon as its sum returns), half of them split by
 * fm_dist_sum_arrive with work between, so a rank that read a slot its owner had begun to
 * rewrite would get a wrong sum. A plain buffer sums in place. */
static int check_swap(size_t n, int round, int L) {
    const int P = fm_dist_size(), r = fm_dist_rank();
    const int want = L > 1 && P == L && (size_t)(L - 1) * n <= FM_DIST_SWAP_MAX;
    float *buf = fm_dist_swap_buffer(n);
    T_CHECK((buf != NULL) == want, "swap buffer n=%zu on %d ranks, %d per node: %s", n, P, L,
            buf ? "given, not expected" : "not given, expected");
    if (!buf) return round;
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += buf[i] != 0.0f;
    T_CHECK(bad == 0, "swap buffer n=%zu: %d values of a new buffer are not zero", n, bad);
    float *first = buf, *slots[2] = {NULL, NULL};
    size_t wrong = 0;
    for (int k = 0; k < 8; k++, round++) {
        for (size_t i = 0; i < n; i++) buf[i] = value(r, i, round);
        if (k % 2) {
            fm_dist_sum_arrive(buf);
            volatile double w = 0; /* some work while the others arrive */
            for (int j = 0; j < 1000 * (r + 1); j++) w += j;
        }
        float *sum = fm_dist_sum_swap(buf, n);
        T_CHECK(sum != buf, "swap n=%zu round %d: the sum is in the written slot", n, round);
        slots[k % 2] = sum;
        for (size_t i = 0; i < n; i++) wrong += sum[i] != expected(i, round, P, L);
        T_CHECK(fm_dist_same_u64(fm_hash_bytes(sum, n * sizeof(float))), "swap n=%zu round %d: the ranks' sums differ",
                n, round);
        buf = sum;
    }
    T_CHECK(wrong == 0, "swap n=%zu: %zu values differ from the promised sums over 8 rounds", n, wrong);
    T_CHECK(slots[1] == first && slots[0] != first, "swap n=%zu: the sums do not alternate between two slots", n);
    fm_dist_sum_buffer_free(buf);
    return round;
}

/* Node arrays: the node's ranks' parts tile [0, n); what each writes into its part, every rank of
 * the node sees after fm_dist_node_sync; rank 0's values reach every rank by fm_dist_bcast_node;
 * fm_dist_node_sum_double adds the node's ranks' values in their order. */
static void check_arrays(int L) {
    const int r = fm_dist_rank();
    const size_t sizes[] = {5, 1000, ((size_t)1 << 20) + 3};
    for (size_t s = 0; s < 3; s++) {
        const size_t n = sizes[s];
        float *a = fm_dist_node_array(n);
        T_CHECK(fm_dist_node_ranks(a) == L, "node array: shared by %d ranks, not %d", fm_dist_node_ranks(a), L);
        int bad = 0;
        for (size_t i = 0; i < n; i++) bad += a[i] != 0.0f;
        T_CHECK(bad == 0, "node array n=%zu: %d values not zero", n, bad);
        size_t k0, k1;
        fm_dist_my_part(n, &k0, &k1);
        const double covered = fm_dist_node_sum_double((double)(k1 - k0));
        T_CHECK(covered == (double)n, "node array n=%zu: the parts cover %.0f values", n, covered);
        for (size_t i = k0; i < k1; i++) a[i] = (float)(i % 4099) + 0.5f;
        fm_dist_node_sync();
        bad = 0;
        for (size_t i = 0; i < n; i++) bad += a[i] != (float)(i % 4099) + 0.5f;
        T_CHECK(bad == 0, "node array n=%zu: %d values not as their owners wrote them", n, bad);
        fm_dist_node_sync(); /* everyone has read before rank 0 writes again */
        if (r == 0)
            for (size_t i = 0; i < n; i++) a[i] = -(float)(i % 577);
        else if (L == 1) /* a private array: the broadcast must overwrite it */
            for (size_t i = 0; i < n; i++) a[i] = 7.0f;
        fm_dist_bcast_node(a, n);
        bad = 0;
        for (size_t i = 0; i < n; i++) bad += a[i] != -(float)(i % 577);
        T_CHECK(bad == 0, "node array n=%zu: %d values not rank 0's after the broadcast", n, bad);
        fm_dist_node_sync();
        fm_dist_node_array_free(a);
    }
    for (int k = 0; k < 4; k++) { /* back to back */
        const double got = fm_dist_node_sum_double((double)(r + 1) * 0.1 * (k + 1));
        double want = 0;
        const int first = L > 1 ? r / L * L : r; /* imitated or real nodes: consecutive ranks */
        for (int q = first; q < first + (L > 1 ? L : 1); q++) want = q == first ? (q + 1) * 0.1 * (k + 1) : want + (q + 1) * 0.1 * (k + 1);
        T_CHECK(got == want, "node sum of doubles, call %d: %.17g, not %.17g", k, got, want);
    }
}

int main(int argc, char **argv) {
    fm_dist_init(&argc, &argv);
    const int P = fm_dist_size();
    float *probe = fm_dist_sum_buffer(16);
    const int L = fm_dist_node_ranks(probe);
    fm_dist_sum_buffer_free(probe);
    const char *fake = getenv("FMTRAIN_NODE_RANKS");
    /* with real nodes (one machine here), a node is every rank */
    const int node = L > 1 ? L : 1;
    if (fm_dist_rank() == 0) printf("RESULT dist: %d ranks, %d per node in the node-aware sums\n", P, L);
    if (fake && atoi(fake) > 0 && P % atoi(fake) == 0 && atoi(fake) > 1 && getenv("FMTRAIN_NODE_SUM") == NULL)
        T_CHECK(L == atoi(fake), "FMTRAIN_NODE_RANKS=%s gave %d ranks per node", fake, L);
    int round = 0;
    const size_t sizes[] = {1, 5, 15, 16, 17, 63, 1000, 10803, ((size_t)1 << 20) + 7};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) round = check_size(sizes[k], sizes[k], round, node);
    /* a prefix of a buffer (a freed window reused for a smaller request), then a larger one */
    round = check_size(40000, 39990, round, node);
    round = check_size(300000, 300000, round, node);
    for (int k = 0; k < 3; k++) back_to_back(node);
    round = check_part(1000, 990, round, node);
    round = check_part(((size_t)1 << 20) + 7, (size_t)1 << 20, round, node);
    round = check_part(40, 37, round, node); /* fewer values than 16 per rank: the last rank owns them */
    check_arrays(node);
    const size_t swaps[] = {1, 17, 10803, FM_DIST_SWAP_MAX / (size_t)(node > 1 ? node - 1 : 1),
                            FM_DIST_SWAP_MAX / (size_t)(node > 1 ? node - 1 : 1) + 1};
    for (size_t k = 0; k < sizeof swaps / sizeof swaps[0]; k++) round = check_swap(swaps[k], round, node);
    /* a plain buffer: summed in place */
    float *inplace = fm_malloc_floats(100);
    for (size_t i = 0; i < 100; i++) inplace[i] = value(fm_dist_rank(), i, 0);
    T_CHECK(fm_dist_sum_swap(inplace, 100) == inplace, "a plain buffer's swapping sum is not in place");
    int wrong_inplace = 0;
    for (size_t i = 0; i < 100; i++) wrong_inplace += inplace[i] != expected(i, 0, P, node);
    T_CHECK(wrong_inplace == 0, "a plain buffer's swapping sum: %d values wrong", wrong_inplace);
    free(inplace);
    /* a plain buffer still sums through MPI_Allreduce (integer values: any order is exact) */
    float *plain = fm_malloc_floats(1000);
    for (size_t i = 0; i < 1000; i++) plain[i] = value(fm_dist_rank(), i, 0);
    fm_dist_sum_floats(plain, 1000);
    int bad = 0;
    for (size_t i = 0; i < 1000; i++) bad += plain[i] != expected(i, 0, P, node);
    T_CHECK(bad == 0, "a plain buffer's sum: %d values wrong", bad);
    free(plain);
    const int failed = fm_dist_max_int(t_failed);
    if (fm_dist_rank() == 0) printf("dist_check: %d ranks, %d checks, %d failed (on the worst rank)\n", P, t_checks, failed);
    fm_dist_finalize();
    return failed ? 1 : 0;
}
