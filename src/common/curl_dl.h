/* libcurl, loaded when a client first needs it.
 *
 * Only the Talos and Kubernetes clients speak HTTP, yet linking libcurl
 * into every hsmca process maps its whole dependency tree (about two dozen
 * libraries: GnuTLS, Kerberos, LDAP, SSH, …) and keeps ~3 MB of their
 * pages resident — a quarter of what `hsmca bench issue` needs.  So the
 * library is opened with dlopen() by hsmca_curl_open(), and the curl_*
 * names used by src/talos/ and src/kube/ are redirected to the pointers it
 * fills.  Include this header instead of <curl/curl.h>, and call
 * hsmca_curl_open() (once per client; it is cheap after the first) before
 * any curl_* call. */
#ifndef HSMCA_COMMON_CURL_DL_H
#define HSMCA_COMMON_CURL_DL_H

#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK /* curl_easy_setopt must stay a plain call */
#endif
#include <curl/curl.h>

#include "common/error.h"

struct hsmca_curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_reset)(CURL *h);
	void (*easy_cleanup)(CURL *h);
	const char *(*easy_strerror)(CURLcode rc);
	char *(*easy_escape)(CURL *h, const char *s, int len);
	void (*free)(void *p);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *s, unsigned int flags);
	CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **s, unsigned int flags);
	void (*url_cleanup)(CURLU *u);
	curl_version_info_data *(*version_info)(CURLversion v);
};

/* Filled by hsmca_curl_open(); read-only afterwards. */
extern struct hsmca_curl_api hsmca_curl;

/* dlopen libcurl (libcurl.so.4) and curl_global_init() it, once per
 * process (thread-safe).  Later calls return the first result.  The error
 * names the library and what the loader said. */
int hsmca_curl_open(hsmca_error *err);

/* curl.h defines the variadic two as pass-through macros: replace them. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (hsmca_curl.global_init)
#define curl_easy_init (hsmca_curl.easy_init)
#define curl_easy_setopt (hsmca_curl.easy_setopt)
#define curl_easy_perform (hsmca_curl.easy_perform)
#define curl_easy_getinfo (hsmca_curl.easy_getinfo)
#define curl_easy_reset (hsmca_curl.easy_reset)
#define curl_easy_cleanup (hsmca_curl.easy_cleanup)
#define curl_easy_strerror (hsmca_curl.easy_strerror)
#define curl_easy_escape (hsmca_curl.easy_escape)
#define curl_free (hsmca_curl.free)
#define curl_slist_append (hsmca_curl.slist_append)
#define curl_slist_free_all (hsmca_curl.slist_free_all)
#define curl_url (hsmca_curl.url)
#define curl_url_set (hsmca_curl.url_set)
#define curl_url_get (hsmca_curl.url_get)
#define curl_url_cleanup (hsmca_curl.url_cleanup)
#define curl_version_info (hsmca_curl.version_info)

#endif
