// SPDX-License-Identifier: GPL-2.0
/*
 * Decision trees for the optimiser's classifiers (opt.h), in the manner of
 * HiCuts (Gupta and McKeown, 1999): a node cuts one field of its region
 * (an aligned power-of-two block per field) into 2^k equal parts, a leaf
 * lists at most OPT_BINTH candidate rules in first-match order.
 *
 * Fields are 32 (source, destination), 17 (ports, with OPT_PORT_NONE) and 8
 * (protocol) bits wide.  The cut is chosen per node (choose_cut()): the
 * field and k whose fullest child is emptiest while the children hold at most
 * OPT_SPFAC times the node's rules (rules spanning several children are
 * repeated).  A node no cut separates becomes a leaf of up to OPT_LEAF_MAX
 * candidates.  Two things keep trees small:
 *   - a rule whose box is its whole condition (opt_vrule.exact) and covers
 *     the node's region shadows every later rule there: they are dropped;
 *   - neighbouring children with the same rules, all covering both, share
 *     one subtree; leaves with the same candidates share one list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"

#define OPT_KMAX  8 /* at most 256 children per node */
#define OPT_SPFAC 2

static const uint8_t dim_width[OPT_NDIM] = {32, 32, 17, 17, 8};

struct region {
	uint32_t base[OPT_NDIM];
	uint8_t w[OPT_NDIM];
};

struct leafset {
	uint32_t *off, *len, *next, *head; /* chained hash of candidate lists */
	uint32_t n, cap, n_head;
};

struct builder {
	struct opt_tree *t;
	const struct opt_vrule *v;
	struct leafset ls;
};

static uint64_t top(const struct region *r, int d)
{
	return (uint64_t)r->base[d] + ((1ULL << r->w[d]) - 1);
}

static bool covers(const struct opt_vrule *v, const struct region *r)
{
	for (int d = 0; d < OPT_NDIM; d++)
		if (v->lo[d] > r->base[d] || v->hi[d] < top(r, d))
			return false;
	return true;
}

static bool grow(void **p, uint32_t *cap, uint64_t need, size_t size)
{
	uint64_t ncap;
	void *np;

	if (need <= *cap)
		return true;
	if (need > UINT32_MAX / 2)
		return false;
	ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * size);
	if (!np)
		return false;
	*p = np;
	*cap = (uint32_t)ncap;
	return true;
}

static uint32_t list_hash(const uint32_t *l, uint32_t n)
{
	uint32_t h = 2166136261u ^ n;

	for (uint32_t i = 0; i < n; i++)
		h = (h ^ l[i]) * 16777619u;
	return h;
}

/* The offset of list l in the candidate array, added if it is new. */
static int leaf_list(struct builder *b, const uint32_t *l, uint32_t n, uint32_t *off)
{
	struct opt_tree *t = b->t;
	struct leafset *ls = &b->ls;
	uint32_t h;

	if (!ls->n_head) {
		ls->n_head = 1u << 16;
		ls->head = malloc(ls->n_head * sizeof(*ls->head));
		if (!ls->head)
			return -ENOMEM;
		memset(ls->head, 0xff, ls->n_head * sizeof(*ls->head));
	}
	h = list_hash(l, n) & (ls->n_head - 1);
	for (uint32_t i = ls->head[h]; i != UINT32_MAX; i = ls->next[i])
		if (ls->len[i] == n && (!n || !memcmp(&t->cand[ls->off[i]], l, n * sizeof(*l)))) {
			*off = ls->off[i];
			return 0;
		}
	if (!grow((void **)&t->cand, &t->cap_cand, (uint64_t)t->n_cand + n, sizeof(*t->cand)))
		return -ENOMEM;
	if (ls->n == ls->cap) {
		uint32_t ncap = ls->cap ? 2 * ls->cap : 1024;
		uint32_t *o = realloc(ls->off, ncap * sizeof(*o));

		if (o)
			ls->off = o;
		o = o ? realloc(ls->len, ncap * sizeof(*o)) : NULL;
		if (o)
			ls->len = o;
		o = o ? realloc(ls->next, ncap * sizeof(*o)) : NULL;
		if (!o)
			return -ENOMEM;
		ls->next = o;
		ls->cap = ncap;
	}
	*off = t->n_cand;
	if (n)
		memcpy(&t->cand[t->n_cand], l, n * sizeof(*l));
	t->n_cand += n;
	ls->off[ls->n] = *off;
	ls->len[ls->n] = n;
	ls->next[ls->n] = ls->head[h];
	ls->head[h] = ls->n++;
	return 0;
}

static void span(const struct opt_vrule *v, const struct region *r, int d, int s, uint32_t *c_lo,
		 uint32_t *c_hi)
{
	uint64_t lo = v->lo[d] > r->base[d] ? v->lo[d] : r->base[d];
	uint64_t hi = v->hi[d] < top(r, d) ? v->hi[d] : top(r, d);

	*c_lo = (uint32_t)((lo - r->base[d]) >> s);
	*c_hi = (uint32_t)((hi - r->base[d]) >> s);
}

struct cut {
	int d, k;
	uint64_t maxc, sum;
};

/*
 * The best cut of region r for the n rules of list, or d = -1 if none makes
 * progress (leaves some non-empty child with fewer rules; one that still has
 * them all is narrower, and a rule boundary in it is then cut at the next
 * level).  Within the space factor:
 * the emptiest fullest child; if no cut there makes progress, the cheapest
 * one that does (small nodes whose rules crowd one corner of a field); if
 * none does, the widest cut that leaves children empty (it narrows the
 * region, so that the next level can separate the rules).
 */
static int choose_cut(struct builder *b, const uint32_t *list, uint32_t n, const struct region *r,
		      struct cut *best)
{
	_Static_assert(OPT_KMAX <= 16, "children are counted in 32-bit arrays");
	int64_t diff[(1 << OPT_KMAX) + 1];
	struct cut fb = {.d = -1}, zoom = {.d = -1}, weak = {.d = -1};
	double weak_avg = 0;
	bool weak_in = false;

	best->d = -1;
	for (int d = 0; d < OPT_NDIM; d++) {
		int kmax = r->w[d] < OPT_KMAX ? r->w[d] : OPT_KMAX;

		for (int k = 1; k <= kmax; k++) {
			int s = r->w[d] - k;
			uint64_t sum = 0, maxc = 0, run = 0;

			memset(diff, 0, sizeof(diff[0]) * ((1u << k) + 1));
			for (uint32_t i = 0; i < n; i++) {
				uint32_t a, z;

				span(&b->v[list[i]], r, d, s, &a, &z);
				sum += z - a + 1;
				diff[a]++;
				diff[z + 1]--;
			}
			uint64_t used = 0;

			for (uint32_t c = 0; c < (1u << k); c++) {
				run += (uint64_t)diff[c];
				if (run > maxc)
					maxc = run;
				used += run > 0;
			}
			if (maxc >= n && sum >= (uint64_t)n * used) {
				/*
				 * No child has fewer rules, but if some are empty the cut
				 * narrows the region: the rules crowd a corner of a wide one.
				 */
				if (k == kmax && used < (1u << k) &&
				    (zoom.d < 0 || used < zoom.sum))
					zoom = (struct cut){
						.d = d, .k = k, .maxc = maxc, .sum = used};
				continue;
			}
			if (maxc >= n) {
				/*
				 * A child keeps every rule, the others fewer: within the space
				 * factor if possible, fewest on average.
				 */
				double avg = (double)sum / (double)used;
				bool in = (1ULL << k) + sum <= (uint64_t)OPT_SPFAC * n;

				if (weak.d < 0 || (in && !weak_in) ||
				    (in == weak_in &&
				     (in ? avg < weak_avg
					 : (1ULL << k) + sum < (1ULL << weak.k) + weak.sum))) {
					weak = (struct cut){
						.d = d, .k = k, .maxc = maxc, .sum = sum};
					weak_avg = avg;
					weak_in = in;
				}
				continue;
			}
			if ((1ULL << k) + sum <= (uint64_t)OPT_SPFAC * n) {
				if (best->d < 0 || maxc < best->maxc ||
				    (maxc == best->maxc && sum < best->sum))
					*best = (struct cut){
						.d = d, .k = k, .maxc = maxc, .sum = sum};
			} else if (fb.d < 0 || (1ULL << k) + sum < (1ULL << fb.k) + fb.sum) {
				fb = (struct cut){.d = d, .k = k, .maxc = maxc, .sum = sum};
			}
		}
	}
	if (best->d < 0)
		*best = fb.d >= 0 ? fb : weak.d >= 0 ? weak : zoom;
	return best->d;
}

static int build(struct builder *b, uint32_t *list, uint32_t n, const struct region *r, int depth,
		 struct opt_slot *out);

/* Children of a cut: lists in one flat array (rules spanning several are repeated). */
static int build_children(struct builder *b, const uint32_t *list, uint32_t n,
			  const struct region *r, int depth, const struct cut *cut, uint32_t base)
{
	uint32_t nc = 1u << cut->k, *cnt, *pos, *flat = NULL;
	int s = r->w[cut->d] - cut->k, err = 0;
	struct region cr = *r;

	cnt = calloc(nc + 1, sizeof(*cnt));
	pos = calloc(nc + 1, sizeof(*pos));
	if (!cnt || !pos) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a, z;

		span(&b->v[list[i]], r, cut->d, s, &a, &z);
		for (uint32_t c = a; c <= z; c++)
			cnt[c + 1]++;
	}
	for (uint32_t c = 0; c < nc; c++)
		cnt[c + 1] += cnt[c];
	flat = malloc((cnt[nc] ? cnt[nc] : 1) * sizeof(*flat));
	if (!flat) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(pos, cnt, (nc + 1) * sizeof(*pos));
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a, z;

		span(&b->v[list[i]], r, cut->d, s, &a, &z);
		for (uint32_t c = a; c <= z; c++)
			flat[pos[c]++] = list[i];
	}
	cr.w[cut->d] = (uint8_t)s;
	for (uint32_t c = 0; c < nc; c++) {
		uint32_t *cl = flat + cnt[c], cn = cnt[c + 1] - cnt[c];
		struct opt_slot slot;

		cr.base[cut->d] = r->base[cut->d] + (c << s);
		if (c > 0 && cn == cnt[c] - cnt[c - 1] &&
		    !memcmp(cl, flat + cnt[c - 1], cn * sizeof(*cl))) {
			/* The same rules: the same subtree if each covers both children. */
			uint64_t lo = (uint64_t)cr.base[cut->d] - (1ULL << s);
			uint64_t hi = (uint64_t)cr.base[cut->d] + (1ULL << s) - 1;
			bool same = true;

			for (uint32_t i = 0; i < cn && same; i++)
				same = b->v[cl[i]].lo[cut->d] <= lo && b->v[cl[i]].hi[cut->d] >= hi;
			if (same) {
				b->t->slots[base + c] = b->t->slots[base + c - 1];
				continue;
			}
		}
		err = build(b, cl, cn, &cr, depth + 1, &slot);
		if (err)
			goto out;
		b->t->slots[base + c] = slot;
	}
out:
	free(cnt);
	free(pos);
	free(flat);
	return err;
}

static int make_leaf(struct builder *b, const uint32_t *list, uint32_t n, int depth,
		     struct opt_slot *out)
{
	struct opt_tree *t = b->t;
	uint32_t off;
	int err = leaf_list(b, list, n, &off);

	if (err)
		return err;
	if ((unsigned int)depth > t->depth)
		t->depth = (unsigned int)depth;
	if (n > t->max_leaf)
		t->max_leaf = n;
	*out = (struct opt_slot){.dim = OPT_LEAF, .mask = (uint16_t)n, .base = off};
	return 0;
}

static int build(struct builder *b, uint32_t *list, uint32_t n, const struct region *r, int depth,
		 struct opt_slot *out)
{
	struct opt_tree *t = b->t;
	struct cut cut = {.d = -1};
	uint32_t base;
	int err;

	for (uint32_t i = 0; i < n; i++)
		if (b->v[list[i]].exact && covers(&b->v[list[i]], r)) {
			n = i + 1; /* the rest is shadowed in this region */
			break;
		}
	if (n <= OPT_BINTH)
		return make_leaf(b, list, n, depth, out);
	if (depth < OPT_MAX_DEPTH)
		choose_cut(b, list, n, r, &cut);
	/*
	 * Rules no cut separates (their boxes alike, the conditions beyond them
	 * differ): a longer leaf rather than levels of cuts that narrow little.
	 */
	if ((cut.d < 0 || cut.maxc >= n) && n <= OPT_LEAF_MAX)
		return make_leaf(b, list, n, depth, out);
	if (cut.d < 0)
		return -E2BIG;
	base = t->n_slots;
	if ((uint64_t)base + (1u << cut.k) > t->max_slots ||
	    !grow((void **)&t->slots, &t->cap_slots, (uint64_t)base + (1u << cut.k),
		  sizeof(*t->slots)))
		return -E2BIG;
	t->n_slots += 1u << cut.k;
	err = build_children(b, list, n, r, depth, &cut, base);
	if (err)
		return err;
	*out = (struct opt_slot){.dim = (uint8_t)cut.d,
				 .shift = (uint8_t)(r->w[cut.d] - cut.k),
				 .mask = (uint16_t)((1u << cut.k) - 1),
				 .base = base};
	return 0;
}

int opt_tree_build(struct opt_tree *t, const struct opt_vrule *v, uint32_t n, uint32_t *root)
{
	struct builder b = {.t = t, .v = v};
	struct region r = {0};
	struct opt_slot slot;
	uint32_t *list, first = t->n_slots, first_cand = t->n_cand;
	int err;

	for (int d = 0; d < OPT_NDIM; d++)
		r.w[d] = dim_width[d];
	list = malloc((n ? n : 1) * sizeof(*list));
	if (!list ||
	    !grow((void **)&t->slots, &t->cap_slots, (uint64_t)t->n_slots + 1, sizeof(*t->slots))) {
		free(list);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		list[i] = i;
	t->depth = t->max_leaf = 0;
	*root = t->n_slots++;
	err = build(&b, list, n, &r, 0, &slot);
	if (!err) {
		t->slots[*root] = slot;
		/* Candidates are vrule indexes until here: make them descriptor indexes. */
		for (uint32_t i = first_cand; i < t->n_cand; i++)
			t->cand[i] = v[t->cand[i]].desc;
	} else {
		t->n_slots = first; /* leave the tree as it was */
		t->n_cand = first_cand;
	}
	free(list);
	free(b.ls.off);
	free(b.ls.len);
	free(b.ls.next);
	free(b.ls.head);
	return err;
}
