/* How the Talos API reaches each node, as talosctl does (rot_internal.h).
 *
 * talosctl and talm dial an endpoint and name the target node in gRPC
 * metadata (`node`, siderolabs/talos pkg/machinery/client/context.go
 * WithNode); the endpoint's apid authenticates the client against its own
 * trust and proxies the call.  A node named with a port (a test setup, a
 * port forward) is its own apid; so is a node that is one of the endpoints.
 * Any other node is reached through the endpoints, in order (failover), and
 * its address is what goes into the `node` metadata: a value with a port is
 * refused by apid, so the two never mix. */
#include "rotate/rot_internal.h"

#include <stdio.h>
#include <string.h>

/* The host part of "host", "host:port", "[v6]" or "[v6]:port"; false when
 * there is a port (has_port set) or the form is odd. */
static void split_host(const char *a, char *host, size_t hostlen, bool *has_port)
{
	const char *c;

	*has_port = false;
	if (a[0] == '[') {
		const char *e = strchr(a, ']');

		if (!e) {
			snprintf(host, hostlen, "%s", a);
			return;
		}
		snprintf(host, hostlen, "%.*s", (int)(e - a - 1), a + 1);
		*has_port = e[1] == ':';
		return;
	}
	c = strchr(a, ':');
	if (c && !strchr(c + 1, ':')) { /* one colon: host:port */
		snprintf(host, hostlen, "%.*s", (int)(c - a), a);
		*has_port = true;
		return;
	}
	snprintf(host, hostlen, "%s", a); /* a bare IPv6 address or a host */
}

int hsmca_rot_assign_reach(struct hsmca_rot_plan *p, char *const *endpoints, hsmca_error *err)
{
	char via[1024] = "";
	size_t i, k, l = 0;

	for (k = 0; endpoints && endpoints[k]; k++) {
		int w = snprintf(via + l, sizeof(via) - l, "%s%s", l ? "," : "", endpoints[k]);

		if (w < 0 || (size_t)w >= sizeof(via) - l || strchr(endpoints[k], ','))
			return hsmca_error_set(err, "endpoint list too long or with a comma: %s",
					       endpoints[k]);
		l += (size_t)w;
	}
	for (i = 0; i < p->n_nodes; i++) {
		struct hsmca_rot_node *n = &p->nodes[i];
		char host[256], eh[256];
		bool port, eport, direct;

		split_host(n->addr, host, sizeof(host), &port);
		snprintf(n->dial, sizeof(n->dial), "%s", n->addr);
		direct = port || !via[0];
		for (k = 0; !direct && endpoints && endpoints[k]; k++) {
			split_host(endpoints[k], eh, sizeof(eh), &eport);
			if (strcmp(eh, host) == 0) {
				snprintf(n->dial, sizeof(n->dial), "%s", endpoints[k]);
				direct = true;
			}
		}
		snprintf(n->via, sizeof(n->via), "%s", direct ? "" : via);
	}
	return 0;
}
