/* One round over an arena of N bytes (N = 2 MiB in the benchmark):
 *   1. sieve of Eratosthenes on the first N/2 bytes (one byte per number),
 *      with a limit that varies a little per round;
 *   2. FNV-1a hash of the whole arena, whatever the previous steps left;
 *   3. heapsort of N/32 32-bit words from a xorshift PRNG seeded by the
 *      round, stored in the second half of the arena.
 * The checksum folds in the prime count, the hash and samples of the
 * sorted array. Built freestanding for the guest and hosted natively with
 * the same flags: no library calls, no floating point, no division. */
#include "compute.h"

static uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

static uint32_t sieve(uint8_t *a, uint32_t n)
{
	uint32_t count = 0;
	for (uint32_t i = 0; i < n; i++)
		a[i] = 1;
	a[0] = a[1] = 0;
	for (uint32_t i = 2; i * i < n; i++)
		if (a[i])
			for (uint32_t j = i * i; j < n; j += i)
				a[j] = 0;
	for (uint32_t i = 0; i < n; i++)
		count += a[i];
	return count;
}

static uint32_t fnv1a(const uint8_t *a, uint32_t n)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; i < n; i++) {
		h ^= a[i];
		h *= 16777619u;
	}
	return h;
}

static void sift_down(uint32_t *v, uint32_t root, uint32_t n)
{
	for (;;) {
		uint32_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && v[child] < v[child + 1])
			child++;
		if (v[root] >= v[child])
			return;
		uint32_t t = v[root];
		v[root] = v[child];
		v[child] = t;
		root = child;
	}
}

static void heapsort(uint32_t *v, uint32_t n)
{
	for (uint32_t i = n >> 1; i-- > 0;)
		sift_down(v, i, n);
	for (uint32_t end = n - 1; end > 0; end--) {
		uint32_t t = v[0];
		v[0] = v[end];
		v[end] = t;
		sift_down(v, 0, end);
	}
}

uint32_t compute_run(uint8_t *arena, uint32_t arena_len, uint32_t rounds)
{
	uint32_t half = arena_len >> 1;
	uint32_t *words = (uint32_t *)(arena + half);
	uint32_t nwords = arena_len >> 5;
	uint32_t sum = 0x12345678u;

	for (uint32_t r = 0; r < rounds; r++) {
		uint32_t primes = sieve(arena, half - (r & 1023));
		uint32_t hash = fnv1a(arena, arena_len);

		uint32_t seed = (r + 1) * 0x9E3779B9u;
		if (!seed)
			seed = 1;
		for (uint32_t i = 0; i < nwords; i++)
			words[i] = xorshift32(&seed);
		heapsort(words, nwords);
		uint32_t sorted = 1;
		for (uint32_t i = 1; i < nwords; i++)
			sorted &= words[i - 1] <= words[i];

		sum = (sum ^ primes) * 0x01000193u;
		sum = (sum ^ hash) * 0x01000193u;
		sum = (sum ^ words[0] ^ words[nwords >> 1] ^ words[nwords - 1]) * 0x01000193u;
		sum ^= sorted << 31;
	}
	return sum;
}
