/* The names and extensions of logon certificates (docs/logon.md), built and
 * read back with OpenSSL's ASN.1 API: src/x509/ext_upn.c (the UPN and
 * id-pkinit-san otherNames of subjectAltName) and src/x509/ext_sid.c (the
 * SID extension for strong certificate mapping). Private to the library. */
#ifndef P11ENROLL_X509_EXT_LOGON_H
#define P11ENROLL_X509_EXT_LOGON_H

#include <openssl/x509v3.h>

/* Microsoft's UPN otherName: type-id 1.3.6.1.4.1.311.20.2.3, value
 * [0] EXPLICIT UTF8String. NULL on allocation failure. */
GENERAL_NAME *p11e_x509_upn_name(const char *upn);
/* The UPN an otherName holds (malloc'd), or NULL: another name, or a value
 * that is not a UTF8String without NUL bytes. */
char *p11e_x509_upn_of(const GENERAL_NAME *gn);

/* id-pkinit-san (RFC 4556 3.2.2): type-id 1.3.6.1.5.2.2, value
 * KRB5PrincipalName { realm [0] GeneralString, principalName [1]
 * PrincipalName { name-type [0] 1 (NT-PRINCIPAL), name-string [1] SEQUENCE OF
 * GeneralString } }, for principal "c1/c2@REALM" as written (its realm is
 * already upper-cased: p11e_principal_canonical). NULL on allocation failure
 * or a principal without '@'. */
GENERAL_NAME *p11e_x509_pkinit_san_name(const char *principal);
/* The principal "c1/c2@REALM" an id-pkinit-san otherName holds (malloc'd),
 * or NULL: another name, or a value that does not decode, has no component,
 * or a component or realm holding '/', '@', '\' or a NUL. */
char *p11e_x509_pkinit_san_of(const GENERAL_NAME *gn);

/* The SID extension (szOID_NTDS_CA_SECURITY_EXT, 1.3.6.1.4.1.311.25.2, not
 * critical): a SEQUENCE OF GeneralName holding one otherName, type-id
 * 1.3.6.1.4.1.311.25.2.1, value [0] EXPLICIT OCTET STRING with the SID's
 * text ("S-1-5-21-..."), as AD CS writes it since KB5014754. */
X509_EXTENSION *p11e_x509_sid_ext(const char *sid);
/* The SID text the extension holds (malloc'd), or NULL when it is not one
 * well-formed SID extension. */
char *p11e_x509_sid_of(const X509_EXTENSION *ext);
/* The SID extension's object, 1.3.6.1.4.1.311.25.2: a new one (free it with
 * ASN1_OBJECT_free), or NULL. */
ASN1_OBJECT *p11e_x509_sid_ext_obj(void);

/* Whether cert's extended key usage lists nid (profile.c). */
int p11e_cert_has_eku(X509 *cert, int nid);

#endif
