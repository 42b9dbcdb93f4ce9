/* The configuration file: defaults, errors that name the problem, profiles, CAs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "check.h"
#include "p11enroll/config.h"

static const char *tmp;

static const char *write_config(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void expect_error(const char *name, const char *text, const char *needle)
{
	p11e_config c;
	p11e_err err = {0};

	CHECK_RC(p11e_config_load(write_config(name, text), &c, &err), P11E_CONFIG, &err);
	if (strstr(err.msg, needle) == NULL)
		fprintf(stderr, "%s: '%s' lacks '%s'\n", name, err.msg, needle);
	CHECK(strstr(err.msg, needle) != NULL);
}

static void defaults(void)
{
	p11e_config c;
	p11e_err err = {0};
	char want[600];

	setenv("P11ENROLL_STATE_DIR", "/srv/state", 1);
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_OK, &err);
	CHECK(c.path == NULL && c.module == NULL);
	CHECK(strcmp(c.state_dir, "/srv/state") == 0);
	CHECK(strcmp(c.default_ca, "local:/srv/state/ca") == 0);
	CHECK(strcmp(c.default_profile, "smime") == 0);
	p11e_config_clear(&c);
	unsetenv("P11ENROLL_STATE_DIR");
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "%s/.local/state/p11enroll", getenv("HOME"));
	CHECK(strcmp(c.state_dir, want) == 0);
	p11e_config_clear(&c);
}

static void errors(void)
{
	p11e_config c;
	p11e_err err = {0};
	char missing[600];

	snprintf(missing, sizeof(missing), "%s/nope.json", tmp);
	CHECK_RC(p11e_config_load(missing, &c, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "nope.json") != NULL);
	setenv("P11ENROLL_CONFIG", missing, 1);
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_CONFIG, &err);
	unsetenv("P11ENROLL_CONFIG");
	expect_error("broken.json", "{\n \"state_dir\": \"/x\",\n \"module\": \n", "line");
	expect_error("typo.json", "{ \"statedir\": \"/x\" }", "unknown key 'statedir'");
	expect_error("type.json", "{ \"module\": 5 }", "'module' must be a string");
	expect_error("array.json", "[1]", "must be a JSON object");
	expect_error("cas.json", "{ \"cas\": { \"x\": {} } }", "cas.x needs a string \"type\"");
}

static void profiles_and_cas(void)
{
	p11e_config c;
	p11e_profile p;
	p11e_err err = {0};
	json_object *ca = NULL, *v;
	const char *path = write_config(
	    "good.json",
	    "{ \"state_dir\": \"state\", \"default_ca\": \"corp\",\n"
	    "  \"cas\": { \"corp\": { \"type\": \"local\", \"dir\": \"ca-dir\" } },\n"
	    "  \"profiles\": {\n"
	    "    \"staff\": { \"base\": \"smime-sign\", \"subject\": \"/O=Example\",\n"
	    "                 \"validity_days\": 730, \"key\": \"ec:P-384\" },\n"
	    "    \"long\": { \"validity_days\": 9999 },\n"
	    "    \"odd\": { \"colour\": \"red\" },\n"
	    "    \"enc\": { \"purposes\": [\"encrypt\"], \"digest\": \"sha384\" } } }\n");
	char want[600];

	CHECK_RC(p11e_config_load(path, &c, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "%s/state", tmp);
	CHECK(c.state_dir && strcmp(c.state_dir, want) == 0); /* relative to the file */
	CHECK(strcmp(c.default_ca, "corp") == 0);

	CHECK_RC(p11e_config_profile(&c, "staff", &p, &err), P11E_OK, &err);
	CHECK(strcmp(p.name, "staff") == 0 && p.purposes == P11E_PURPOSE_SIGN);
	CHECK(p.validity_days == 730 && strcmp(p.default_key, "ec:P-384") == 0);
	CHECK(strcmp(p.subject, "/O=Example") == 0);
	CHECK_RC(p11e_config_profile(&c, "enc", &p, &err), P11E_OK, &err);
	CHECK(p.purposes == P11E_PURPOSE_ENCRYPT && strcmp(p.digest, "sha384") == 0);
	CHECK_RC(p11e_config_profile(&c, "smime-sign", &p, &err), P11E_OK, &err);
	CHECK(p.purposes == P11E_PURPOSE_SIGN);
	CHECK_RC(p11e_config_profile(&c, "long", &p, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "profiles.long.validity_days") != NULL);
	CHECK_RC(p11e_config_profile(&c, "odd", &p, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "colour") != NULL);
	CHECK_RC(p11e_config_profile(&c, "nobody", &p, &err), P11E_NOT_FOUND, &err);

	CHECK_RC(p11e_config_ca(&c, "corp", &ca, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "%s/ca-dir", tmp);
	CHECK(ca && json_object_object_get_ex(ca, "dir", &v) &&
	      strcmp(json_object_get_string(v), want) == 0);
	json_object_put(ca);
	CHECK_RC(p11e_config_ca(&c, "local:/srv/ca", &ca, &err), P11E_OK, &err);
	CHECK(ca && json_object_object_get_ex(ca, "type", &v) &&
	      strcmp(json_object_get_string(v), "local") == 0);
	CHECK(json_object_object_get_ex(ca, "dir", &v) &&
	      strcmp(json_object_get_string(v), "/srv/ca") == 0);
	json_object_put(ca);
	CHECK_RC(p11e_config_ca(&c, "nowhere", &ca, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "nowhere") != NULL);
	p11e_config_clear(&c);
}

int main(void)
{
	tmp = getenv("TEST_TMP");
	if (tmp == NULL)
		tmp = "/tmp";
	unsetenv("P11ENROLL_CONFIG");
	defaults();
	errors();
	profiles_and_cas();
	return check_done();
}
