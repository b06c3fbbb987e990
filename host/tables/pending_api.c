// Temporary: the deferred grace period API arrives with the tables change.
#include <string.h>
#include "tables/tables.h"

int pso_tables_grace_fd(const struct pso_tables *t) { (void)t; return -1; }
void pso_tables_grace_done(struct pso_tables *t) { (void)t; }
bool pso_tables_sub_served(const struct pso_tables *t, uint16_t id, const struct pso_endpoint *ep,
			   uint8_t family)
{
	int i = pso_tables_sub_find(t, id, ep);

	return i >= 0 && pso_sub_servable(pso_tables_slot(t, id, i), family);
}
