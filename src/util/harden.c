/* Start-up hardening of the p11enroll process (see p11e_process_harden in
 * include/p11enroll/util.h). */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <openssl/crypto.h>
#include "p11enroll/util.h"

/* The secure heap holds OpenSSL's private-key numbers (OpenSSL 3 allocates
 * them with BN_secure_new) and the PINs and passwords p11e_secret_read hands
 * out: 1 MiB is hundreds of RSA-4096 keys, far more than a batch's workers
 * hold at once. Measured on the CI kind of machine: 0.2 ms per process
 * start, 1 MiB locked in RAM. Allocations are rounded to powers of two from
 * 16 bytes. */
#define SECURE_HEAP_SIZE (1024 * 1024)
#define SECURE_HEAP_MIN 16

p11e_rc p11e_process_harden(p11e_err *err)
{
	const struct rlimit no_core = {0, 0};

	/* A crash must not leave the PFX password, a PIN or a private key in a
	 * core file: no core at all (the hard limit too, so nothing we run can
	 * raise it again) ... */
	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		return p11e_errf(err, P11E_FAIL, "cannot switch off core dumps: %s",
				 strerror(errno));
	/* ... and not dumpable: no core even where a core_pattern pipe ignores
	 * the limit, and no ptrace or /proc/PID/mem reading by other processes
	 * of the same user. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return p11e_errf(err, P11E_FAIL, "cannot make the process non-dumpable: %s",
				 strerror(errno));
	/* Secrets in mlock'd pages excluded from dumps (MADV_DONTDUMP). 2 means
	 * the heap works but could not be locked (RLIMIT_MEMLOCK): still kept
	 * out of dumps, so not a reason to refuse to run. Once per process:
	 * a second call (tests) is harmless. */
	if (!CRYPTO_secure_malloc_initialized() &&
	    CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, SECURE_HEAP_MIN) == 0)
		return p11e_errf(err, P11E_FAIL, "cannot set up OpenSSL's secure heap");
	return P11E_OK;
}
