/*
 * ring: a multi-producer, single-consumer ring of variable-length records.
 *
 * Layout. The buffer is `capacity` bytes (a power of two) of anonymous memory. `head` and
 * `tail` are byte counters that only grow; a position in the buffer is counter & (capacity-1).
 * Bytes in [tail, head) belong to records that producers reserved and the consumer has not
 * released yet; bytes outside that window are all zero. Each record is an 8-byte header word
 * followed by its payload, rounded up to a multiple of 8 so that every header word is aligned
 * and can be accessed atomically. The header word holds the payload length in its low 32 bits,
 * plus two flags: COMMITTED (the payload is complete) and PADDING (filler, see below).
 *
 * Producers (signal handlers on any thread, and ordinary threads) reserve by compare-and-swap
 * on head, after checking that the new head stays within capacity bytes of tail. A record
 * never straddles the end of the buffer: when it would, the same CAS also takes the bytes up to
 * the end, which the producer marks as a committed padding record that the consumer skips. So
 * that one reservation can always fit an empty ring wherever head stands, a record may take at
 * most half of the ring (pyi_ring_max_record). A reservation that does not fit fails at once
 * and increments `dropped`. The producer writes the payload, then commits by storing the header
 * word with the COMMITTED bit (release).
 *
 * The consumer (the writer thread) reads the header word at tail (acquire). Zero, or a length
 * without COMMITTED, means the record at tail is still being written: the consumer stops there,
 * even if later records are complete, so records come out in reservation order. After use it
 * zeroes the whole record, re-establishing "outside the window is zero" (which is what lets it
 * trust that a zero header means "not yet written" rather than stale payload), then advances
 * tail (release) to hand the bytes back to producers.
 *
 * Signal safety: the *_sigsafe functions use only lock-free atomics on 64-bit words and plain
 * stores into memory mapped at init; no lock, no allocation, no libc call, bounded retries in
 * practice (a CAS fails only when another producer succeeded). A handler that interrupts a
 * producer on the same thread between reserve and commit reserves after it and commits first;
 * the consumer simply waits for the outer producer's commit.
 */
#include "agent/ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the ring needs lock-free 64-bit atomics");

#define HDR_SIZE 8u
#define HDR_LEN_MASK UINT64_C(0xffffffff)
#define HDR_COMMITTED (UINT64_C(1) << 32)
#define HDR_PADDING (UINT64_C(1) << 33)
#define MIN_CAPACITY ((size_t)4096)

static inline uint64_t round8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

static inline _Atomic uint64_t *header_at(const struct pyi_ring *r, uint64_t counter)
{
	return (_Atomic uint64_t *)(void *)(r->buf + (counter & (r->capacity - 1)));
}

int pyi_ring_init(struct pyi_ring *r, size_t capacity)
{
	size_t cap = MIN_CAPACITY;
	void *buf;

	memset(r, 0, sizeof(*r));
	/* Header lengths are 32-bit, and a record may take half of the ring. */
	if (capacity > ((size_t)1 << 33))
		return -EINVAL;
	while (cap < capacity)
		cap <<= 1;
	/* Anonymous mappings are zero-filled: the "outside the window is zero" invariant. */
	buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return -errno;
	r->buf = buf;
	r->capacity = cap;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->dropped, 0);
	pyi_prefault_init(&r->pages, buf, cap);
	return 0;
}

void pyi_ring_release(struct pyi_ring *r)
{
	if (r->buf)
		munmap(r->buf, r->capacity);
	r->buf = NULL;
	r->capacity = 0;
}

size_t pyi_ring_max_record(const struct pyi_ring *r)
{
	/* Half the ring, header included: such a record plus its padding always fits when empty. */
	return r->capacity / 2 - HDR_SIZE;
}

void *pyi_ring_reserve_sigsafe(struct pyi_ring *r, uint32_t len)
{
	uint64_t need = HDR_SIZE + round8(len);
	uint64_t mask = r->capacity - 1;
	uint64_t head, tail, pad, pos;

	if (len > pyi_ring_max_record(r))
		goto drop;
	for (;;) {
		/*
		 * acquire: the consumer zeroed the bytes below this tail before publishing it; our
		 * writes into them must come after its zeroing. Loading tail before head also
		 * guarantees tail <= head (the head that let the consumer reach tail is visible).
		 */
		tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		/* relaxed: head carries no data; the CAS below validates the value we read. */
		head = atomic_load_explicit(&r->head, memory_order_relaxed);
		pos = head & mask;
		pad = pos + need > r->capacity ? r->capacity - pos : 0;
		if (head + pad + need - tail > r->capacity)
			goto drop;
		/*
		 * relaxed on success and failure: the CAS only hands out disjoint byte ranges;
		 * publication to the consumer happens through the header's release store.
		 */
		if (atomic_compare_exchange_weak_explicit(&r->head, &head, head + pad + need,
							  memory_order_relaxed,
							  memory_order_relaxed))
			break;
	}
	if (pad) {
		/* release: every COMMITTED header is published with release, padding included, so
		 * the consumer's acquire never needs an exception (the padding bytes are zero). */
		atomic_store_explicit(header_at(r, head), (pad - HDR_SIZE) | HDR_PADDING | HDR_COMMITTED,
				      memory_order_release);
		head += pad;
	}
	/* relaxed: an uncommitted length is ignored by the consumer; commit re-reads it. */
	atomic_store_explicit(header_at(r, head), len, memory_order_relaxed);
	return r->buf + (head & mask) + HDR_SIZE;

drop:
	/* relaxed: a statistic read later; it orders nothing. */
	atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
	return NULL;
}

void pyi_ring_commit_sigsafe(struct pyi_ring *r, void *record)
{
	_Atomic uint64_t *hdr = (_Atomic uint64_t *)(void *)((unsigned char *)record - HDR_SIZE);
	/* relaxed: this producer wrote the value itself in reserve. */
	uint64_t word = atomic_load_explicit(hdr, memory_order_relaxed);

	(void)r;
	/* release: the payload stores must be visible before the consumer sees COMMITTED. */
	atomic_store_explicit(hdr, word | HDR_COMMITTED, memory_order_release);
}

void pyi_ring_warm_sigsafe(struct pyi_ring *r, uint32_t len)
{
	/* relaxed: a hint; another producer may take these bytes first, which is harmless. */
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t end = head + HDR_SIZE + round8(len);
	if (len > pyi_ring_max_record(r))
		return;
	for (uint64_t at = head & ~(uint64_t)63; at < end; at += 64)
		__builtin_prefetch(r->buf + (at & (r->capacity - 1)), 1, 3);
}

/* Consumer only: zeroes a record and gives its bytes back to producers. */
static void release_record(struct pyi_ring *r, uint64_t tail, uint64_t word)
{
	_Atomic uint64_t *hdr = header_at(r, tail);
	uint64_t size = HDR_SIZE + round8(word & HDR_LEN_MASK);

	memset((unsigned char *)hdr + HDR_SIZE, 0, size - HDR_SIZE);
	/* relaxed: ordered before the producers' use by the release store of tail below. */
	atomic_store_explicit(hdr, 0, memory_order_relaxed);
	/* release: our zeroing must happen-before a producer's reuse (its acquire of tail). */
	atomic_store_explicit(&r->tail, tail + size, memory_order_release);
}

const void *pyi_ring_peek(struct pyi_ring *r, uint32_t *len)
{
	for (;;) {
		/* relaxed: only this thread writes tail. */
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		/* acquire: pairs with the commit's release, so the payload is complete. */
		uint64_t word = atomic_load_explicit(header_at(r, tail), memory_order_acquire);

		if (!(word & HDR_COMMITTED))
			return NULL;
		if (word & HDR_PADDING) {
			release_record(r, tail, word);
			continue;
		}
		if (len)
			*len = (uint32_t)(word & HDR_LEN_MASK);
		return (const unsigned char *)header_at(r, tail) + HDR_SIZE;
	}
}

void pyi_ring_pop(struct pyi_ring *r)
{
	/* relaxed: only this thread writes tail. */
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* relaxed: peek already acquired this committed header. */
	uint64_t word = atomic_load_explicit(header_at(r, tail), memory_order_relaxed);

	if (!(word & HDR_COMMITTED))
		return; /* pop without a successful peek: nothing to release */
	release_record(r, tail, word);
}

void pyi_ring_prepare(struct pyi_ring *r, size_t ahead)
{
	/* relaxed: a hint; pages are prepared a little early or late, never wrongly. Once the
	 * producers have been through every page (head past the capacity), all are present
	 * and the prefault, capped at the ring's size, is done. */
	pyi_prefault_upto(&r->pages,
			  (size_t)atomic_load_explicit(&r->head, memory_order_relaxed) + ahead);
}

void pyi_ring_forget_prepared(struct pyi_ring *r)
{
	pyi_prefault_forget(&r->pages);
}

uint64_t pyi_ring_dropped(struct pyi_ring *r)
{
	/* relaxed: a statistic. */
	return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
