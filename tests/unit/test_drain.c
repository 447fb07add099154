/* Unit tests of the drain (agent/shortcut/drain.c): when a pair leaves the shortcut,
 * and that its sockets are deleted from the SOCKHASH only after the grace
 * period and once each reader has consumed every redirected byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "shortcut/drain.h"

#define N 4
#define MS 1000000ull
#define GRACE (20 * MS)

static struct mc_pair pairs[N];
static bool present[N][2];
static int removed[N][2];

static bool fake_present(void *ctx, const struct mc_sock_key *k)
{
	(void)ctx;
	return present[k->slot][k->side];
}

static void fake_remove(void *ctx, const struct mc_sock_key *k)
{
	(void)ctx;
	removed[k->slot][k->side]++;
	present[k->slot][k->side] = false;
}

static struct mc_drainer d;

static int setup(void **state)
{
	(void)state;
	memset(pairs, 0, sizeof(pairs));
	memset(present, 0, sizeof(present));
	memset(removed, 0, sizeof(removed));
	if (mc_drainer_init(&d, pairs, N, -1))
		return -1;
	d.ops.present = fake_present;
	d.ops.remove = fake_remove;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_drainer_free(&d);
	return 0;
}

static void live_pair(uint32_t slot, uint32_t kind)
{
	pairs[slot].refs = 2;
	pairs[slot].id.kind = (uint8_t)kind;
	pairs[slot].id.client_port = (uint16_t)(1000 + slot);
	pairs[slot].dir[0] = pairs[slot].dir[1] = MC_DIR_REDIRECT;
	present[slot][0] = present[slot][1] = true;
}

static void test_active_pairs_stay(void **state)
{
	struct mc_drain_result r;

	(void)state;
	live_pair(0, MC_KIND_OUTBOUND);
	mc_drain_sweep(&d, MC_MODE_FULL, false, 100 * MS, GRACE, &r);
	assert_int_equal(pairs[0].dir[0], MC_DIR_REDIRECT);
	assert_int_equal(r.waiting, 0);
	assert_int_equal(removed[0][0] + removed[0][1], 0);
}

static void test_mode_off_waits_grace_then_deletes(void **state)
{
	struct mc_drain_result r;

	(void)state;
	live_pair(1, MC_KIND_NODE);
	mc_drain_sweep(&d, MC_MODE_INTRA, false, 100 * MS, GRACE, &r);
	/* step 1: both directions forced to TCP at once, nothing deleted yet */
	assert_int_equal(pairs[1].dir[0], MC_DIR_TCP);
	assert_int_equal(pairs[1].dir[1], MC_DIR_TCP);
	assert_int_equal(r.waiting, 1);
	assert_int_equal(removed[1][0], 0);
	/* counted as a mode leave (stats add it to to_tcp.mode), once */
	assert_int_equal(d.mode_leaves[MC_KIND_NODE], 1);
	/* still inside the grace period */
	mc_drain_sweep(&d, MC_MODE_INTRA, false, 110 * MS, GRACE, &r);
	assert_int_equal(removed[1][0], 0);
	/* after it, with nothing unread: both sockets deleted, once */
	mc_drain_sweep(&d, MC_MODE_INTRA, false, 125 * MS, GRACE, &r);
	assert_int_equal(r.deleted, 1);
	assert_int_equal(removed[1][0], 1);
	assert_int_equal(removed[1][1], 1);
	assert_true(pairs[1].flags & MC_PAIR_DELETED);
	mc_drain_sweep(&d, MC_MODE_INTRA, false, 200 * MS, GRACE, &r);
	assert_int_equal(removed[1][0], 1);
	assert_int_equal(d.mode_leaves[MC_KIND_NODE], 1);
}

static void test_unread_bytes_hold_the_delete(void **state)
{
	struct mc_drain_result r;

	(void)state;
	live_pair(2, MC_KIND_INBOUND);
	pairs[2].sent[1] = 5000;     /* the server side has 5000 unread redirected bytes */
	pairs[2].consumed[1] = 1000;
	mc_drain_sweep(&d, 0, true, 100 * MS, GRACE, &r);
	mc_drain_sweep(&d, 0, true, 500 * MS, GRACE, &r);
	assert_int_equal(removed[2][1], 0);
	assert_int_equal(r.waiting, 1);
	assert_int_equal(r.backlog_bytes, 4000);
	pairs[2].consumed[1] = 5000; /* the reader caught up */
	mc_drain_sweep(&d, 0, true, 600 * MS, GRACE, &r);
	assert_int_equal(removed[2][0], 1);
	assert_int_equal(removed[2][1], 1);
}

static void test_closed_sockets_are_done(void **state)
{
	struct mc_drain_result r;

	(void)state;
	live_pair(3, MC_KIND_OUTBOUND);
	pairs[3].sent[0] = 10;
	mc_drain_sweep(&d, 0, true, 100 * MS, GRACE, &r);
	present[3][0] = present[3][1] = false; /* both closed with bytes unread */
	mc_drain_sweep(&d, 0, true, 200 * MS, GRACE, &r);
	assert_true(pairs[3].flags & MC_PAIR_DELETED);
	assert_int_equal(removed[3][0] + removed[3][1], 0); /* nothing to delete */
	assert_int_equal(r.waiting, 0);
	assert_int_equal(d.closed_unread, 1); /* counted: a test that reads every byte sees it */
}

static void test_reused_slot_starts_over(void **state)
{
	struct mc_drain_result r;

	(void)state;
	live_pair(0, MC_KIND_OUTBOUND);
	pairs[0].sent[0] = 10; /* unread: the pair waits */
	mc_drain_sweep(&d, 0, true, 100 * MS, GRACE, &r);
	/* the connection closed and another one took the slot */
	pairs[0].id.client_port = 4242;
	pairs[0].sent[0] = 0;
	pairs[0].dir[0] = pairs[0].dir[1] = MC_DIR_REDIRECT;
	mc_drain_sweep(&d, 0, true, 130 * MS, GRACE, &r);
	/* the new connection gets its own grace period: not deleted yet */
	assert_int_equal(removed[0][0], 0);
	assert_int_equal(pairs[0].dir[0], MC_DIR_TCP);
	mc_drain_sweep(&d, 0, true, 151 * MS, GRACE, &r);
	assert_int_equal(removed[0][0], 1);
}

static void test_lone_end_on_tcp_leaves(void **state)
{
	struct mc_drain_result r;

	(void)state;
	live_pair(1, MC_KIND_NODE);
	pairs[1].refs = 1; /* its peer never arrived (another node, or not captured) */
	pairs[1].dir[0] = MC_DIR_EARLY_TCP;
	pairs[1].dir[1] = MC_DIR_UNDECIDED;
	present[1][1] = false;
	mc_drain_sweep(&d, MC_MODE_FULL, false, 100 * MS, GRACE, &r);
	mc_drain_sweep(&d, MC_MODE_FULL, false, 200 * MS, GRACE, &r);
	assert_int_equal(removed[1][0], 1);
	assert_int_equal(mc_pairs_live(pairs, N), 0);
}

/* A direction put back to REDIRECT after the drain flipped the pair (a
 * datapath defect: a plain store overtaking the flip) must never be deleted
 * under its sender: the drain flips it again, counts it, and waits a new grace
 * period before it deletes. */
static void test_redirect_after_flip_is_not_deleted(void **state)
{
	struct mc_drain_result r;

	(void)state;
	live_pair(2, MC_KIND_INBOUND);
	mc_drain_sweep(&d, 0, true, 100 * MS, GRACE, &r);
	pairs[2].dir[1] = MC_DIR_REDIRECT; /* a sender overwrote the flip */
	mc_drain_sweep(&d, 0, true, 130 * MS, GRACE, &r);
	assert_int_equal(removed[2][0] + removed[2][1], 0);
	assert_int_equal(pairs[2].dir[1], MC_DIR_TCP);
	assert_int_equal(d.redirect_after_flip, 1);
	assert_int_equal(r.waiting, 1);
	mc_drain_sweep(&d, 0, true, 140 * MS, GRACE, &r); /* its new grace runs */
	assert_int_equal(removed[2][0], 0);
	mc_drain_sweep(&d, 0, true, 151 * MS, GRACE, &r);
	assert_int_equal(removed[2][0], 1);
	assert_int_equal(removed[2][1], 1);
	assert_int_equal(d.redirect_after_flip, 1);
}

/* One direction on TCP and the other still redirecting, both ends held: the
 * datapath never leaves a pair like that (a pair leaves as a whole), so the
 * drain finishes the leave. */
static void test_half_left_pair_leaves(void **state)
{
	struct mc_drain_result r;

	(void)state;
	live_pair(3, MC_KIND_OUTBOUND);
	pairs[3].dir[0] = MC_DIR_TCP;
	mc_drain_sweep(&d, MC_MODE_FULL, false, 100 * MS, GRACE, &r);
	assert_int_equal(pairs[3].dir[1], MC_DIR_TCP);
	assert_int_equal(r.waiting, 1);
	mc_drain_sweep(&d, MC_MODE_FULL, false, 121 * MS, GRACE, &r);
	assert_int_equal(removed[3][0], 1);
	assert_int_equal(removed[3][1], 1);
}

/* a sweep stamps the agent's liveness (api/liveness.h) as it moves; init: none */
static void test_sweep_stamps_progress(void **state)
{
	struct mc_drain_result r;
	uint64_t progress = 0, before;

	(void)state;
	assert_null(d.progress_ns);
	mc_drain_sweep(&d, MC_MODE_FULL, false, 100 * MS, GRACE, &r);
	d.progress_ns = &progress;
	before = mc_now_ns();
	mc_drain_sweep(&d, MC_MODE_FULL, false, 100 * MS, GRACE, &r);
	assert_true(progress >= before && progress <= mc_now_ns());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_active_pairs_stay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_off_waits_grace_then_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unread_bytes_hold_the_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_sockets_are_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reused_slot_starts_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lone_end_on_tcp_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_after_flip_is_not_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_left_pair_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_stamps_progress, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
