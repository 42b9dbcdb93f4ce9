/* The floor for one enrollment: the PKCS#11 work alone, no CSR and no CA.
 * Per iteration: C_Login, C_GenerateKeyPair (token objects), one C_Sign of a
 * digest, C_CreateObject of a certificate-sized object, C_Logout. Prints the
 * median and the mean in ms. Usage: floor MODULE TOKEN_LABEL PIN_FILE N [ec|rsa3072]
 * (bench/run.sh drives it). Deliberately raw: it is the yardstick. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <p11-kit/pkcs11.h>
#include "bench_time.h"

#define CHECK_RV(call)                                                                             \
	do {                                                                                       \
		CK_RV rv_ = (call);                                                                \
		if (rv_ != CKR_OK) {                                                               \
			fprintf(stderr, "%s: 0x%lx\n", #call, (unsigned long)rv_);                 \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

int main(int argc, char **argv)
{
	CK_FUNCTION_LIST_PTR f;
	CK_C_GetFunctionList get;
	CK_SLOT_ID slots[16];
	CK_ULONG nslots = 16;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	char pin[64] = "";
	FILE *pf;
	int n, rsa;
	double *t;
	void *dl;

	if (argc < 5)
		return 2;
	n = atoi(argv[4]);
	rsa = argc > 5 && strcmp(argv[5], "rsa3072") == 0;
	if ((pf = fopen(argv[3], "r")) == NULL || fgets(pin, sizeof(pin), pf) == NULL)
		return 2;
	fclose(pf);
	pin[strcspn(pin, "\n")] = '\0';
	t = calloc((size_t)n, sizeof(*t));
	double t0 = bench_now_ms();
	if ((dl = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL)
		return 2;
	CHECK_RV(get(&f));
	CHECK_RV(f->C_Initialize(NULL));
	CHECK_RV(f->C_GetSlotList(CK_TRUE, slots, &nslots));
	for (CK_ULONG i = 0; i < nslots; i++) {
		CK_TOKEN_INFO ti;
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    strncmp((char *)ti.label, argv[2], strlen(argv[2])) == 0 &&
		    ti.label[strlen(argv[2])] == ' ')
			CHECK_RV(f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION,
						  NULL, NULL, &s));
	}
	if (s == CK_INVALID_HANDLE)
		return 3;
	printf("load+init+session %.2f ms\n", bench_now_ms() - t0);

	static const unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
					     0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 3072;
	CK_BYTE exponent[] = {1, 0, 1};
	CK_OBJECT_CLASS cert_class = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE x509 = CKC_X_509;
	unsigned char value[700], digest[32], sig[512], id[8];
	memset(value, 0x30, sizeof(value));
	memset(digest, 0x5a, sizeof(digest));
	for (int i = 0; i < n; i++) {
		CK_OBJECT_HANDLE pub, priv, cert;
		CK_ULONG sig_len = sizeof(sig);
		memcpy(id, &i, sizeof(i));
		CK_ATTRIBUTE pub_t[] = {
		    {CKA_TOKEN, &yes, 1},
		    {CKA_ID, id, sizeof(id)},
		    {CKA_VERIFY, &yes, 1},
		    rsa ? (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)}
			: (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)p256, sizeof(p256)},
		    {CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)}};
		CK_ATTRIBUTE priv_t[] = {{CKA_TOKEN, &yes, 1},	   {CKA_PRIVATE, &yes, 1},
					 {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1},
					 {CKA_ID, id, sizeof(id)}, {CKA_SIGN, &yes, 1}};
		CK_ATTRIBUTE cert_t[] = {{CKA_CLASS, &cert_class, sizeof(cert_class)},
					 {CKA_CERTIFICATE_TYPE, &x509, sizeof(x509)},
					 {CKA_TOKEN, &yes, 1},
					 {CKA_ID, id, sizeof(id)},
					 {CKA_SUBJECT, value, 60},
					 {CKA_VALUE, value, sizeof(value)}};
		CK_MECHANISM gen = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
		CK_MECHANISM sign = {rsa ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0};
		double a = bench_now_ms();
		CHECK_RV(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin)));
		CHECK_RV(f->C_GenerateKeyPair(s, &gen, pub_t, rsa ? 5 : 4, priv_t, 6, &pub, &priv));
		CHECK_RV(f->C_SignInit(s, &sign, priv));
		CHECK_RV(f->C_Sign(s, digest, sizeof(digest), sig, &sig_len));
		CHECK_RV(f->C_CreateObject(s, cert_t, 6, &cert));
		CHECK_RV(f->C_Logout(s));
		t[i] = bench_now_ms() - a;
	}
	double sum = 0, first = 0, last = 0;
	for (int i = 0; i < n; i++)
		sum += t[i];
	/* The module's own growth: the first and the last hundred iterations. */
	for (int i = 0; n >= 200 && i < 100; i++) {
		first += t[i];
		last += t[n - 100 + i];
	}
	if (n >= 200)
		printf("floor first hundred %.2f ms, last hundred %.2f ms\n", first / 100,
		       last / 100);
	qsort(t, (size_t)n, sizeof(*t), bench_cmp_ms);
	printf("floor %s n=%d median %.2f ms mean %.2f ms\n", rsa ? "rsa:3072" : "ec:P-256", n,
	       t[n / 2], sum / n);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	free(t);
	return 0;
}
