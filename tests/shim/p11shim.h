/* The test-only shim PKCS#11 module's parts (tests/shim/p11shim.c). */
#ifndef P11SHIM_H
#define P11SHIM_H

#include <p11-kit/pkcs11.h>

/* PIN emulation (tests/shim/p11shim_pin.c): overrides entries of `table`, the shim's
 * copy of the real module's function list `real`, for the behaviours its env vars ask. */
void p11shim_pin_install(CK_FUNCTION_LIST *table, const CK_FUNCTION_LIST *real);

#endif
