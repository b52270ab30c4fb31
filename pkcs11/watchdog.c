/* A deadline on calls into libtpm2_pkcs11.
 *
 * A TPM that stops answering (swtpm stopped, a wedged tpm2-abrmd, a TPM
 * that never finishes) makes libtpm2_pkcs11 block forever: it sets no
 * timeout of its own (docs/tpm.md, Findings).  A blocked call cannot be
 * cancelled, so all this layer can do is notice and tell the caller, who
 * decides (the CLI prints a message and exits).  It notices with a thread
 * that wakes four times a second and looks at two counters kept by thin
 * wrappers around the module's entry points: how many calls are in flight,
 * and when a call last began from idle or finished.  When calls are in
 * flight and none has finished for the configured time, the callback runs
 * once, on the watchdog thread; it runs again only after progress.
 *
 * The wrappers are installed for the TPM module only (SoftHSM2 does not
 * block), and only one module's list can be wrapped per process: the
 * trampolines have no context argument, so the real list is a file-static.
 * libtpm2_pkcs11 hands out one static list anyway. */
#include "pkcs11/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static CK_FUNCTION_LIST *real;
static CK_FUNCTION_LIST wrapped;
static pthread_mutex_t wrap_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_uint in_flight;
static atomic_llong last_progress_ms;
static _Atomic(const char *) current_call = "";

/* Configuration, and the thread that applies it. */
static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned deadline_s;
static hsmca_token_stall_fn stall_fn;
static void *stall_arg;
static bool thread_started;

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void enter(const char *name)
{
	if (atomic_fetch_add(&in_flight, 1) == 0)
		atomic_store(&last_progress_ms, now_ms());
	atomic_store(&current_call, name);
}

static CK_RV leave(CK_RV rv)
{
	atomic_store(&last_progress_ms, now_ms());
	atomic_fetch_sub(&in_flight, 1);
	return rv;
}

#define WRAP(name, params, args)                       \
	static CK_RV w_##name params                   \
	{                                              \
		enter(#name);                          \
		return leave(real->name args);         \
	}

/* Every entry point the token layer uses that may reach the TPM. */
WRAP(C_Initialize, (CK_VOID_PTR a), (a))
WRAP(C_Finalize, (CK_VOID_PTR a), (a))
WRAP(C_GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n), (p, l, n))
WRAP(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (s, i))
WRAP(C_GetMechanismInfo, (CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i), (s, t, i))
WRAP(C_InitToken, (CK_SLOT_ID s, CK_UTF8CHAR_PTR p, CK_ULONG n, CK_UTF8CHAR_PTR l), (s, p, n, l))
WRAP(C_InitPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR p, CK_ULONG n), (h, p, n))
WRAP(C_OpenSession, (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n, CK_SESSION_HANDLE_PTR h),
     (s, f, a, n, h))
WRAP(C_CloseSession, (CK_SESSION_HANDLE h), (h))
WRAP(C_Login, (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n), (h, u, p, n))
WRAP(C_Logout, (CK_SESSION_HANDLE h), (h))
WRAP(C_DestroyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o), (h, o))
WRAP(C_GetAttributeValue, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
     (h, o, t, n))
WRAP(C_SetAttributeValue, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
     (h, o, t, n))
WRAP(C_FindObjectsInit, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (h, t, n))
WRAP(C_FindObjects, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n),
     (h, o, m, n))
WRAP(C_FindObjectsFinal, (CK_SESSION_HANDLE h), (h))
WRAP(C_SignInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k))
WRAP(C_Sign, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR s, CK_ULONG_PTR sn),
     (h, d, n, s, sn))
WRAP(C_GenerateKeyPair,
     (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR kt,
      CK_ULONG kn, CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv),
     (h, m, pt, pn, kt, kn, pub, priv))
WRAP(C_GenerateRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG n), (h, b, n))
WRAP(C_WrapKey,
     (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w, CK_OBJECT_HANDLE k, CK_BYTE_PTR o,
      CK_ULONG_PTR n),
     (h, m, w, k, o, n))
WRAP(C_CopyObject,
     (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR c),
     (h, o, t, n, c))

CK_FUNCTION_LIST *hsmca_watchdog_wrap(CK_FUNCTION_LIST *fns)
{
	CK_FUNCTION_LIST *out = fns;

	pthread_mutex_lock(&wrap_lock);
	if (!real || real == fns) {
		real = fns;
		wrapped = *fns;
		wrapped.C_Initialize = w_C_Initialize;
		wrapped.C_Finalize = w_C_Finalize;
		wrapped.C_GetSlotList = w_C_GetSlotList;
		wrapped.C_GetTokenInfo = w_C_GetTokenInfo;
		wrapped.C_GetMechanismInfo = w_C_GetMechanismInfo;
		wrapped.C_InitToken = w_C_InitToken;
		wrapped.C_InitPIN = w_C_InitPIN;
		wrapped.C_OpenSession = w_C_OpenSession;
		wrapped.C_CloseSession = w_C_CloseSession;
		wrapped.C_Login = w_C_Login;
		wrapped.C_Logout = w_C_Logout;
		wrapped.C_DestroyObject = w_C_DestroyObject;
		wrapped.C_GetAttributeValue = w_C_GetAttributeValue;
		wrapped.C_SetAttributeValue = w_C_SetAttributeValue;
		wrapped.C_FindObjectsInit = w_C_FindObjectsInit;
		wrapped.C_FindObjects = w_C_FindObjects;
		wrapped.C_FindObjectsFinal = w_C_FindObjectsFinal;
		wrapped.C_SignInit = w_C_SignInit;
		wrapped.C_Sign = w_C_Sign;
		wrapped.C_GenerateKeyPair = w_C_GenerateKeyPair;
		wrapped.C_GenerateRandom = w_C_GenerateRandom;
		wrapped.C_WrapKey = w_C_WrapKey;
		wrapped.C_CopyObject = w_C_CopyObject;
		out = &wrapped;
	}
	pthread_mutex_unlock(&wrap_lock);
	return out;
}

static void *watch(void *unused)
{
	bool fired = false;

	(void)unused;
	for (;;) {
		unsigned limit;
		hsmca_token_stall_fn fn;
		void *arg;
		long long idle;

		usleep(250000);
		pthread_mutex_lock(&cfg_lock);
		limit = deadline_s;
		fn = stall_fn;
		arg = stall_arg;
		pthread_mutex_unlock(&cfg_lock);
		idle = now_ms() - atomic_load(&last_progress_ms);
		if (!limit || !fn || atomic_load(&in_flight) == 0 || idle < (long long)limit * 1000) {
			fired = false;
			continue;
		}
		if (!fired) {
			fired = true;
			fn(arg, atomic_load(&current_call), limit);
		}
	}
	return NULL;
}

int hsmca_token_watchdog(unsigned seconds, hsmca_token_stall_fn fn, void *arg, hsmca_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&cfg_lock);
	deadline_s = fn ? seconds : 0;
	stall_fn = fn;
	stall_arg = arg;
	if (deadline_s && !thread_started) {
		pthread_attr_t attr;
		pthread_t th;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &attr, watch, NULL) == 0)
			thread_started = true;
		else
			ret = hsmca_error_set(err, "cannot start the token watchdog thread");
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&cfg_lock);
	return ret;
}
