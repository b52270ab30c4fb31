/* Fault injection for the crash tests: HSMCA_FAULT=<step>[:<where>] kills
 * the process with SIGKILL at that point of a rotation, as a power cut or
 * `kill -9` would.  <step> is a step name ("trust-new"), its number (1-7) or
 * "abort"; <where> is "before" (default: just after the step's begin record
 * is durable), "after" (the step's work is done, its end record not yet
 * written), or a node index (that node's change is made, its node-end record
 * not yet written; nodes are numbered in plan order, control planes first,
 * from 0). */
#include "rotate/rot_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int fault_step = -2;
static char fault_where[32];

static void parse(void)
{
	const char *e = getenv("HSMCA_FAULT");
	char buf[64], *colon;

	if (!e || !*e || strlen(e) >= sizeof(buf))
		return;
	snprintf(buf, sizeof(buf), "%s", e);
	colon = strchr(buf, ':');
	if (colon)
		*colon++ = '\0';
	fault_step = strcmp(buf, "abort") == 0 ? HSMCA_ROT_ABORT : hsmca_rot_step_parse(buf);
	if (fault_step < 0)
		fault_step = -2;
	snprintf(fault_where, sizeof(fault_where), "%s", colon && *colon ? colon : "before");
}

void hsmca_rot_fault(int step, const char *where)
{
	pthread_once(&once, parse);
	if (fault_step == step && strcmp(fault_where, where) == 0) {
		/* Only async-signal-safe calls from here on. */
		static const char msg[] = "hsmca: HSMCA_FAULT: killing myself (SIGKILL)\n";

		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* nothing to do */
		}
		kill(getpid(), SIGKILL);
		pause();
	}
}

void hsmca_rot_fault_node(int step, size_t node)
{
	char idx[24];

	snprintf(idx, sizeof(idx), "%zu", node);
	hsmca_rot_fault(step, idx);
}
