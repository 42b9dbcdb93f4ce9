/* p11enroll --version: what this binary is and what it runs with, for bug
 * reports and for checking a station's install. */
#include <stdio.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include "cli.h"
#include "p11enroll/http.h"

#include "git_revision.h" /* P11ENROLL_GIT_REVISION, made by the build */
/* libp11 and p11-kit have no call that tells their version: these are the
 * versions pkg-config reported when this binary was built. */
#ifndef P11ENROLL_BUILT_LIBP11
#define P11ENROLL_BUILT_LIBP11 "unknown"
#endif
#ifndef P11ENROLL_BUILT_P11KIT
#define P11ENROLL_BUILT_P11KIT "unknown"
#endif

int cli_version(int json)
{
	const char *curl = p11e_http_curl_version();

	if (json) {
		json_object *o = json_object_new_object(), *libs = json_object_new_object();

		json_object_object_add(o, "version", json_object_new_string(P11ENROLL_VERSION));
		json_object_object_add(o, "git_revision",
				       P11ENROLL_GIT_REVISION[0]
					   ? json_object_new_string(P11ENROLL_GIT_REVISION)
					   : NULL);
		json_object_object_add(libs, "openssl",
				       json_object_new_string(OpenSSL_version(OPENSSL_VERSION)));
		json_object_object_add(libs, "json-c", json_object_new_string(json_c_version()));
		json_object_object_add(libs, "libcurl", curl ? json_object_new_string(curl) : NULL);
		json_object_object_add(
		    libs, "libp11", json_object_new_string(P11ENROLL_BUILT_LIBP11 " (built with)"));
		json_object_object_add(
		    libs, "p11-kit",
		    json_object_new_string(P11ENROLL_BUILT_P11KIT " (built with)"));
		json_object_object_add(o, "libraries", libs);
		cli_print_json(o);
		return 0;
	}
	printf("p11enroll %s%s%s\n", P11ENROLL_VERSION, P11ENROLL_GIT_REVISION[0] ? " git " : "",
	       P11ENROLL_GIT_REVISION);
	printf("  %s (running)\n", OpenSSL_version(OPENSSL_VERSION));
	printf("  json-c %s (running)\n", json_c_version());
	printf("  %s\n", curl ? curl : "libcurl: not loadable (needed only for network CAs)");
	printf("  libp11 %s (built with)\n", P11ENROLL_BUILT_LIBP11);
	printf("  p11-kit %s (built with)\n", P11ENROLL_BUILT_P11KIT);
	return 0;
}
