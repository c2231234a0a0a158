#include "agent/cpushare.h"

/* The mean follows each new gap by 1/MEAN_WEIGHT; a sample pays 1/PAYOFF of what is owed
 * beyond the mean; at most CARRY_MAX means stay owed. */
#define MEAN_WEIGHT 16
#define PAYOFF 64
#define CARRY_MAX 4

/* a moved towards b by 1/n of the distance */
static uint64_t toward(uint64_t a, uint64_t b, uint64_t n)
{
	return b >= a ? a + (b - a) / n : a - (a - b) / n;
}

uint64_t pyi_cpu_share_take(struct pyi_cpu_share *share, uint64_t owed)
{
	/* What arrived since the last sample and was not credited elsewhere (a waking). */
	uint64_t fresh = owed > share->carry ? owed - share->carry : 0;
	uint64_t mean = share->mean ? share->mean : fresh;
	uint64_t take = toward(mean, owed, PAYOFF);
	if (owed > CARRY_MAX * mean && take < owed - CARRY_MAX * mean)
		take = owed - CARRY_MAX * mean;
	if (take > owed)
		take = owed;
	share->mean = toward(mean, fresh, MEAN_WEIGHT);
	share->carry = owed - take;
	return take;
}

void pyi_cpu_share_settle(struct pyi_cpu_share *share)
{
	share->carry = 0;
}
