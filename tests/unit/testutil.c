#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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

const char *hsmca_test_key_pem(const char *label)
{
	static struct {
		char label[64];
		char *pem;
	} cache[8];
	EVP_PKEY *k;
	unsigned char *der = NULL;
	BIO *b;
	char *mem;
	long n;
	int len, i;

	for (i = 0; i < 8 && cache[i].pem; i++)
		if (strcmp(cache[i].label, label) == 0)
			return cache[i].pem;
	if (i == 8 || strlen(label) >= sizeof(cache[i].label))
		abort();
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	b = BIO_new(BIO_s_mem());
	if (!k || !b)
		abort();
	{
		PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);

		len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
		PKCS8_PRIV_KEY_INFO_free(p8);
	}
	if (len <= 0 || PEM_write_bio(b, label, "", der, len) <= 0)
		abort();
	n = BIO_get_mem_data(b, &mem);
	cache[i].pem = malloc((size_t)n + 1);
	if (!cache[i].pem)
		abort();
	memcpy(cache[i].pem, mem, (size_t)n);
	cache[i].pem[n] = '\0';
	snprintf(cache[i].label, sizeof(cache[i].label), "%s", label);
	OPENSSL_free(der);
	BIO_free(b);
	EVP_PKEY_free(k);
	return cache[i].pem;
}
