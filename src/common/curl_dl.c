/* libcurl loaded on first use (curl_dl.h). */
#include "common/curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct hsmca_curl_api hsmca_curl;

#define CURL_SONAME "libcurl.so.4"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];

/* dlsym into a function pointer (POSIX guarantees the conversion works). */
#define SYM(field, name)                                                                           \
	do {                                                                                       \
		void *p_ = dlsym(lib, name);                                                       \
		if (!p_) {                                                                         \
			snprintf(load_error, sizeof(load_error), "%s has no %s: %s", CURL_SONAME,  \
				 name, dlerror());                                                 \
			return;                                                                    \
		}                                                                                  \
		memcpy(&api.field, &p_, sizeof(p_));                                               \
	} while (0)

static void load(void)
{
	struct hsmca_curl_api api;
	void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	CURLcode rc;

	if (!lib) {
		snprintf(load_error, sizeof(load_error), "cannot load %s (Debian package libcurl4): "
			 "%s", CURL_SONAME, dlerror());
		return;
	}
	memset(&api, 0, sizeof(api));
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_reset, "curl_easy_reset");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(easy_escape, "curl_easy_escape");
	SYM(free, "curl_free");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	SYM(url, "curl_url");
	SYM(url_set, "curl_url_set");
	SYM(url_get, "curl_url_get");
	SYM(url_cleanup, "curl_url_cleanup");
	SYM(version_info, "curl_version_info");
	/* The library stays loaded for the life of the process: handles and
	 * OpenSSL state made by it must never outlive its code. */
	rc = api.global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(load_error, sizeof(load_error), "curl_global_init: %s",
			 api.easy_strerror(rc));
		return;
	}
	hsmca_curl = api;
}

int hsmca_curl_open(hsmca_error *err)
{
	pthread_once(&once, load);
	if (!hsmca_curl.easy_init)
		return hsmca_error_set(err, "%s", load_error[0] ? load_error : "libcurl not loaded");
	return 0;
}
