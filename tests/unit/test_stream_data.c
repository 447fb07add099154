/* Unit tests of tests/apps/stream_data: the byte streams every integrity test
 * relies on. If these drift, client and server would disagree about what
 * correct data is, so the formula is pinned to known values too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../apps/stream_data.h"

/* splitmix64's first output for state 0 is a published constant; stream 0,
 * word 0 is exactly that, which pins the documented formula. */
static void test_known_values(void **state)
{
	(void)state;
	assert_true(stream_word(0, 0) == 0xe220a8397b1dcdafULL);
	assert_int_equal(stream_byte(0, 0), 0xaf); /* little endian: low byte first */
	assert_int_equal(stream_byte(0, 1), 0xcd);
	assert_int_equal(stream_byte(0, 7), 0xe2);
}

static void test_byte_matches_word(void **state)
{
	(void)state;
	for (uint64_t seed = 0; seed < 4; seed++)
		for (uint64_t i = 0; i < 200; i++)
			assert_int_equal(stream_byte(seed, i),
					 (uint8_t)(stream_word(seed, i / 8) >> (8 * (i % 8))));
}

/* Every start offset modulo 8 and every short length, with canaries around
 * the buffer to catch writes past its ends. */
static void test_fill_unaligned(void **state)
{
	unsigned char buf[128];
	(void)state;

	for (uint64_t off = 0; off < 24; off++)
		for (size_t len = 0; len <= 80; len++)
			for (size_t at = 0; at < 3; at++) { /* unaligned buffer addresses too */
				memset(buf, 0x5a, sizeof(buf));
				stream_fill(7, off, buf + 8 + at, len);
				for (size_t i = 0; i < len; i++)
					assert_int_equal(buf[8 + at + i], stream_byte(7, off + i));
				for (size_t i = 0; i < 8 + at; i++)
					assert_int_equal(buf[i], 0x5a);
				for (size_t i = 8 + at + len; i < sizeof(buf); i++)
					assert_int_equal(buf[i], 0x5a);
			}
}

/* Filling piece by piece at arbitrary offsets equals filling at once. */
static void test_fill_seekable(void **state)
{
	static unsigned char whole[100000], parts[100000];
	size_t cuts[] = { 0, 1, 3, 8, 13, 64, 1001, 4099, 65536, 99999, 100000 };
	(void)state;

	stream_fill(42, 5, whole, sizeof(whole));
	for (size_t i = 0; i + 1 < sizeof(cuts) / sizeof(cuts[0]); i++)
		stream_fill(42, 5 + cuts[i], parts + cuts[i], cuts[i + 1] - cuts[i]);
	assert_memory_equal(whole, parts, sizeof(whole));
}

static void test_verify_good(void **state)
{
	unsigned char buf[300];
	(void)state;

	for (uint64_t off = 0; off < 20; off++)
		for (size_t len = 0; len <= 200; len += 7) {
			stream_fill(3, off, buf + 1, len);
			assert_int_equal(stream_verify(3, off, buf + 1, len), -1);
		}
	/* Far offsets work the same: nothing is carried from byte to byte. */
	uint64_t far = (1ULL << 62) + 3;
	stream_fill(3, far, buf, sizeof(buf));
	assert_int_equal(stream_verify(3, far, buf, sizeof(buf)), -1);
	assert_int_equal(buf[0], stream_byte(3, far));
}

/* A single corrupted byte is found at its exact stream offset wherever it is:
 * in the leading partial word, the 4-word fast path, the word loop or the tail. */
static void test_verify_finds_mismatch(void **state)
{
	unsigned char buf[100];
	(void)state;

	for (uint64_t off = 0; off < 9; off++)
		for (size_t len = 1; len <= sizeof(buf); len += 11)
			for (size_t pos = 0; pos < len; pos++) {
				stream_fill(9, off, buf, len);
				buf[pos] ^= 0x01; /* smallest possible damage */
				assert_int_equal(stream_verify(9, off, buf, len), (int64_t)(off + pos));
			}
}

static void test_verify_reports_first(void **state)
{
	unsigned char buf[1000];
	(void)state;

	stream_fill(1, 12345, buf, sizeof(buf));
	buf[700] ^= 0x80;
	buf[401] ^= 0xff;
	buf[999] ^= 0x10;
	assert_int_equal(stream_verify(1, 12345, buf, sizeof(buf)), 12345 + 401);
}

/* Wrong seed or shifted offset: what a desynchronised stream looks like. */
static void test_verify_wrong_stream(void **state)
{
	unsigned char buf[4096];
	(void)state;

	stream_fill(1, 0, buf, sizeof(buf));
	assert_true(stream_verify(2, 0, buf, sizeof(buf)) >= 0);
	assert_true(stream_verify(1, 1, buf, sizeof(buf)) >= 0); /* one byte lost */
	assert_true(stream_verify(1, 8, buf, sizeof(buf)) >= 0); /* one word lost */
	/* A buffer of zeros is not a stream either. */
	memset(buf, 0, sizeof(buf));
	assert_true(stream_verify(1, 0, buf, sizeof(buf)) >= 0);
}

static void test_size_rng(void **state)
{
	struct size_rng a, b, c;
	int seen_min = 0, seen_max = 0;
	(void)state;

	size_rng_init(&a, 5);
	size_rng_init(&b, 5);
	size_rng_init(&c, 6);
	int differ = 0;
	for (int i = 0; i < 10000; i++) {
		uint64_t x = size_rng_range(&a, 1, 10);
		assert_true(x >= 1 && x <= 10);
		assert_true(x == size_rng_range(&b, 1, 10)); /* same seed, same sizes */
		differ |= x != size_rng_range(&c, 1, 10);
		seen_min |= x == 1;
		seen_max |= x == 10;
	}
	assert_true(differ);
	assert_true(seen_min && seen_max); /* both ends are reachable */
	assert_true(size_rng_range(&a, 77, 77) == 77);
	assert_true(size_rng_next(&a) != size_rng_next(&a));
	size_rng_init(&a, 0); /* seed 0 must not get xorshift stuck at 0 */
	assert_true(size_rng_next(&a) != 0 || size_rng_next(&a) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_byte_matches_word),
		cmocka_unit_test(test_fill_unaligned),
		cmocka_unit_test(test_fill_seekable),
		cmocka_unit_test(test_verify_good),
		cmocka_unit_test(test_verify_finds_mismatch),
		cmocka_unit_test(test_verify_reports_first),
		cmocka_unit_test(test_verify_wrong_stream),
		cmocka_unit_test(test_size_rng),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
