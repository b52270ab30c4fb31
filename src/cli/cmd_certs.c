/* hsmca certs list [CA] [--json]: the certificates the CAs issued, from
 * their records, with their status now.  Public data only: no token. */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ca/ca.h"
#include "common/util.h"
#include "store/records.h"

struct list_ctx {
	const char *ca;
	struct hsmca_revocation *rv;
	size_t nrv;
	time_t now;
	size_t count;
};

static const char *status_of(const struct list_ctx *c, const struct hsmca_record *rec,
			     const struct hsmca_revocation **rv)
{
	*rv = hsmca_revocations_find(c->rv, c->nrv, rec->serial, rec->serial_len);
	if (*rv)
		return "revoked";
	return rec->not_after < c->now ? "expired" : "valid";
}

/* Streamed, one object at a time: 100,000 records never sit in memory. */
static int print_json_cb(const struct hsmca_record *rec, void *arg)
{
	struct list_ctx *c = arg;
	const struct hsmca_revocation *rv;
	const char *status = status_of(c, rec, &rv);
	json_object *o = json_object_new_object();
	char serial[41], t[21];

	hsmca_hex(rec->serial, rec->serial_len, serial);
	json_object_object_add(o, "ca", json_object_new_string(c->ca));
	json_object_object_add(o, "serial", json_object_new_string(serial));
	json_object_object_add(o, "subject", json_object_new_string(rec->subject));
	json_object_object_add(o, "profile", json_object_new_string(rec->profile));
	hsmca_format_time(rec->not_before, t);
	json_object_object_add(o, "not_before", json_object_new_string(t));
	hsmca_format_time(rec->not_after, t);
	json_object_object_add(o, "not_after", json_object_new_string(t));
	hsmca_format_time(rec->issued_at, t);
	json_object_object_add(o, "issued_at", json_object_new_string(t));
	json_object_object_add(o, "status", json_object_new_string(status));
	if (rv) {
		hsmca_format_time(rv->revoked_at, t);
		json_object_object_add(o, "revoked_at", json_object_new_string(t));
		json_object_object_add(o, "revocation_reason",
				       json_object_new_string(hsmca_revocation_reason_name(rv->reason)));
	}
	printf("%s\n  %s", c->count ? "," : "",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	c->count++;
	return 0;
}

static int print_text_cb(const struct hsmca_record *rec, void *arg)
{
	struct list_ctx *c = arg;
	const struct hsmca_revocation *rv;
	const char *status = status_of(c, rec, &rv);
	char serial[41], na[21];

	hsmca_hex(rec->serial, rec->serial_len, serial);
	hsmca_format_time(rec->not_after, na);
	printf("%-16s %-40s %-8s %-20s %-28s %s\n", c->ca, serial, status, na, rec->profile,
	       rec->subject);
	c->count++;
	return 0;
}

static int list_one(const char *home, const char *name, struct list_ctx *c, hsmca_error *err)
{
	struct hsmca_ca *ca = NULL;
	int ret = -1;

	c->rv = NULL;
	c->nrv = 0;
	c->ca = name;
	if (hsmca_ca_load(home, name, &ca, err) != 0 ||
	    hsmca_revocations(ca->dir, &c->rv, &c->nrv, err) != 0)
		goto out;
	hsmca_revocations_sort(c->rv, c->nrv);
	if (hsmca_records_foreach(ca->dir, cli.json ? print_json_cb : print_text_cb, c, err) != 0)
		goto out;
	ret = 0;
out:
	free(c->rv);
	c->rv = NULL;
	hsmca_ca_free(ca);
	return ret;
}

static int certs_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	hsmca_error err = { "", 0 };
	struct list_ctx c = { 0 };
	char home[PATH_MAX];
	char (*names)[64] = NULL;
	const char *only = NULL;
	size_t n = 0, i;
	int opt, ret = CLI_FAIL;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': cli.json = true; break;
		case 'h':
			cli_print_synopsis(stdout, "certs");
			puts("\nLists every certificate recorded by the CA (all CAs when none is named):\n"
			     "serial, status now (valid, expired or revoked), notAfter, profile, subject.\n"
			     "Reads the state directory only; the token is not opened.");
			return CLI_OK;
		default:
			return cli_usage("certs", "certs list: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		only = argv[optind++];
	if (optind < argc)
		return cli_usage("certs", "certs list: unexpected argument '%s'", argv[optind]);
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0)
		return cli_fail(&err);
	if (!hsmca_config_exists(home))
		return cli_failf("certs list: %s is not an hsmca state directory (see 'hsmca init')",
				 home);
	if (only) {
		if (hsmca_ca_name_check(only, &err) != 0)
			return cli_usage("certs", "certs list: %s", err.msg);
	} else if (hsmca_ca_names(home, &names, &n, &err) != 0) {
		return cli_fail(&err);
	}
	c.now = hsmca_now();
	if (cli.json)
		fputs("[", stdout);
	else
		printf("%-16s %-40s %-8s %-20s %-28s %s\n", "CA", "SERIAL", "STATUS", "NOT AFTER",
		       "PROFILE", "SUBJECT");
	for (i = 0; i < (only ? 1 : n); i++) {
		if (list_one(home, only ? only : names[i], &c, &err) != 0) {
			if (cli.json)
				fputs("\n]\n", stdout);
			cli_failf("certs list: %s", err.msg);
			goto out;
		}
	}
	if (cli.json)
		fputs(c.count ? "\n]\n" : "]\n", stdout);
	ret = CLI_OK;
out:
	free(names);
	return ret;
}

int cmd_certs(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "certs");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "list") == 0)
		return certs_list(argc - 1, argv + 1);
	return cli_usage("certs", "certs: unknown action '%s'", argv[1]);
}
