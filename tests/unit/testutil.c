#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *hsmca_test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[PATH_MAX];
	char *d;

	snprintf(tmpl, sizeof(tmpl), "%s/hsmca-test.XXXXXX", base && *base ? base : "/tmp");
	d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

void hsmca_test_rmtree(const char *dir)
{
	char cmd[PATH_MAX + 32];

	if (!dir || strncmp(dir, "/", 1) != 0 || strlen(dir) < 8)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		/* Leftovers in $TMPDIR are harmless. */
	}
}

const char *hsmca_test_softhsm(const char *dir)
{
	char conf[PATH_MAX], tokens[PATH_MAX];
	FILE *f;

	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	mkdir(tokens, 0700);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	f = fopen(conf, "w");
	if (!f)
		return NULL;
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	return HSMCA_TEST_SOFTHSM_MODULE;
}
