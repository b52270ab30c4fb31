/* A fixed public CA certificate (CN=fuzz-ca, P-256, CA:TRUE; its key was
 * never kept) for targets that add or remove an accepted CA: being fixed,
 * corpus inputs can list it. */
#ifndef HSMCA_FUZZ_CA_H
#define HSMCA_FUZZ_CA_H
static const char fuzz_ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBdzCCAR6gAwIBAgIBATAKBggqhkjOPQQDAjASMRAwDgYDVQQDDAdmdXp6LWNh\n"
	"MCAXDTI2MTIwNzIyMTYwMVoYDzIxMjYxMTEzMjIxNjAxWjASMRAwDgYDVQQDDAdm\n"
	"dXp6LWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaadX4b7MCu1viZDV7DAg\n"
	"oWGkhF5iFroh+CLX0kvM/geFWlF6xOfx89jE6hZnKNGsHjcWe7la7siaWkKqW2vI\n"
	"OaNjMGEwHQYDVR0OBBYEFJ1e6xqLnBseHDgAbcg1cMem6RjuMB8GA1UdIwQYMBaA\n"
	"FJ1e6xqLnBseHDgAbcg1cMem6RjuMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/\n"
	"BAQDAgEGMAoGCCqGSM49BAMCA0cAMEQCIFbjdV09hG9I5t71V3/BvY4EgocIW+Gp\n"
	"VTJIQacGNg/OAiAsmqqD6HsH9yE15+9lw3CLwn4NVUDF+Q5Uhw/SxUS7Jw==\n"
	"-----END CERTIFICATE-----\n"
	;
#endif
