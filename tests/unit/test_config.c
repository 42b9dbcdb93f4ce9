/* The configuration file: defaults, errors that name the problem, profiles,
 * CAs, relative paths. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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
	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

static void expect_error(const char *text, p11e_rc rc, const char *needle)
{
	p11e_config c;
	p11e_err err = {0};
	const char *path = write_config("bad.json", text);

	CHECK_RC(p11e_config_load(path, &c, &err), rc, &err);
	if (strstr(err.msg, needle) == NULL || strstr(err.msg, path) == NULL)
		fprintf(stderr, "'%s': message '%s' lacks '%s' or the file\n", text, err.msg,
			needle);
	CHECK(strstr(err.msg, needle) != NULL && strstr(err.msg, path) != NULL);
	CHECK(c.path == NULL && c.root == NULL && c.state_dir == NULL); /* cleared */
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;
	return o != NULL && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
								  : NULL;
}

static int eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void defaults(void)
{
	p11e_config c;
	p11e_profile p;
	p11e_err err = {0};
	char want[600];
	const char *home = getenv("HOME");

	/* The tests need /etc/p11enroll/config.json absent to see defaults. */
	if (access("/etc/p11enroll/config.json", F_OK) == 0) {
		fprintf(stderr, "/etc/p11enroll/config.json exists: defaults not testable\n");
		CHECK(!"/etc/p11enroll/config.json exists");
		return;
	}
	setenv("P11ENROLL_STATE_DIR", "/srv/state", 1);
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_OK, &err);
	CHECK(c.path == NULL && c.root == NULL && c.module == NULL && c.pin_source == NULL);
	CHECK(eq(c.state_dir, "/srv/state"));
	CHECK(eq(c.default_ca, "local:/srv/state/ca"));
	CHECK(eq(c.default_profile, "smime"));
	/* Built-in profiles and local: CAs work without a file; names do not. */
	CHECK_RC(p11e_config_profile(&c, "client-auth", &p, &err), P11E_OK, &err);
	CHECK(eq(p.name, "client-auth") && p.purposes == P11E_PURPOSE_CLIENT_AUTH);
	CHECK_RC(p11e_config_profile(&c, "nobody", &p, &err), P11E_NOT_FOUND, &err);
	CHECK(eq(err.msg, "profile 'nobody' is not defined (built-in: smime, smime-sign, "
			  "smime-encrypt, client-auth, tls-server, smartcard-logon, kdc)"));
	json_object *ca = NULL;
	CHECK_RC(p11e_config_ca(&c, "corp", &ca, &err), P11E_CONFIG, &err);
	CHECK(ca == NULL &&
	      eq(err.msg, "ca 'corp' is not defined in the config (or use local:DIR)"));
	p11e_config_clear(&c);
	p11e_config_clear(&c); /* twice is fine */

	unsetenv("P11ENROLL_STATE_DIR");
	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_OK, &err);
	CHECK(eq(c.state_dir, "/xdg/state/p11enroll"));
	p11e_config_clear(&c);
	setenv("XDG_STATE_HOME", "relative/state", 1); /* invalid per XDG: ignored */
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "%s/.local/state/p11enroll", home);
	CHECK(eq(c.state_dir, want));
	snprintf(want, sizeof(want), "local:%s/.local/state/p11enroll/ca", home);
	CHECK(eq(c.default_ca, want));
	p11e_config_clear(&c);
	unsetenv("XDG_STATE_HOME");
	setenv("P11ENROLL_CONFIG", "", 1); /* empty: as if unset */
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_OK, &err);
	CHECK(c.path == NULL);
	p11e_config_clear(&c);
	unsetenv("P11ENROLL_CONFIG");
}

static void file_errors(void)
{
	p11e_config c;
	p11e_err err = {0};
	char missing[600], want[700];

	/* Named explicitly, or by $P11ENROLL_CONFIG: it must exist. */
	snprintf(missing, sizeof(missing), "%s/nope.json", tmp);
	CHECK_RC(p11e_config_load(missing, &c, &err), P11E_CONFIG, &err);
	snprintf(want, sizeof(want), "config %s: cannot read: No such file or directory", missing);
	CHECK(eq(err.msg, want));
	setenv("P11ENROLL_CONFIG", missing, 1);
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_CONFIG, &err);
	CHECK(eq(err.msg, want));
	unsetenv("P11ENROLL_CONFIG");
	CHECK_RC(p11e_config_load(tmp, &c, &err), P11E_CONFIG, &err); /* a directory */
	CHECK(strstr(err.msg, "cannot read: Is a directory") != NULL);

	expect_error("{\n \"state_dir\": \"/x\",\n \"module\": ", P11E_CONFIG,
		     "parse error at line 3: unexpected end of file");
	expect_error("{\n \"state_dir\": \"/x\",\n \"module\": 'x'\n}\n", P11E_CONFIG,
		     "parse error at line 3");
	expect_error("{ \"module\": \"/x\" } trailing", P11E_CONFIG, "parse error at line 1");
	expect_error("", P11E_CONFIG, "parse error at line 1: unexpected end of file");
	expect_error("{ \"module\": \"/x\", }", P11E_CONFIG, "parse error at line 1");
	expect_error("[1]", P11E_CONFIG, "must be a JSON object");
	expect_error("{ \"statedir\": \"/x\" }", P11E_CONFIG, "unknown key 'statedir'");
	expect_error("{ \"module\": 5 }", P11E_CONFIG, "'module' must be a string");
	expect_error("{ \"state_dir\": [\"/x\"] }", P11E_CONFIG, "'state_dir' must be a string");
	expect_error("{ \"pin_source\": null }", P11E_CONFIG, "'pin_source' must be a string");
	expect_error("{ \"default_ca\": {} }", P11E_CONFIG, "'default_ca' must be a string");
	expect_error("{ \"default_profile\": true }", P11E_CONFIG,
		     "'default_profile' must be a string");
	expect_error("{ \"module\": \"\" }", P11E_CONFIG, "'module' is empty");
	expect_error("{ \"cas\": [] }", P11E_CONFIG, "'cas' must be an object");
	expect_error("{ \"profiles\": \"staff\" }", P11E_CONFIG, "'profiles' must be an object");
	expect_error("{ \"cas\": { \"x\": {} } }", P11E_CONFIG, "cas.x needs a string \"type\"");
	expect_error("{ \"cas\": { \"x\": { \"type\": 1 } } }", P11E_CONFIG,
		     "cas.x needs a string \"type\"");
	expect_error("{ \"cas\": { \"x\": \"local\" } }", P11E_CONFIG,
		     "cas.x needs a string \"type\"");
	expect_error("{ \"vault\": {} }", P11E_CONFIG,
		     "'vault' needs a string \"type\" (file, vault-kv2 or cyberark)");
	expect_error("{ \"store\": { \"type\": 1 } }", P11E_CONFIG,
		     "'store' needs a string \"type\" (file or postgresql)");
	expect_error("{ \"cas\": { \"x\": { \"type\": \"local\", \"dir\": 5 } } }", P11E_CONFIG,
		     "cas.x.dir must be a string");
	expect_error("{ \"default_ca\": \"corp\" }", P11E_CONFIG,
		     "default_ca: ca 'corp' is not defined");
	expect_error("{ \"default_profile\": \"staf\" }", P11E_CONFIG,
		     "default_profile: profile 'staf' is not defined");
}

/* Each bad profile field is refused at load, naming profiles.NAME.FIELD. */
static void profile_errors(void)
{
	static const struct {
		const char *def, *needle;
	} bad[] = {
	    {"{ \"validity_days\": 0 }", "profiles.p.validity_days must be"},
	    {"{ \"validity_days\": 3651 }", "profiles.p.validity_days must be"},
	    {"{ \"validity_days\": -5 }", "profiles.p.validity_days must be"},
	    {"{ \"validity_days\": \"365\" }", "profiles.p.validity_days must be"},
	    {"{ \"validity_days\": 36.5 }", "profiles.p.validity_days must be"},
	    {"{ \"key\": \"ec:P-999\" }", "profiles.p.key 'ec:P-999' is not a key type"},
	    {"{ \"key\": 256 }", "profiles.p.key must be a string"},
	    {"{ \"digest\": \"sha999\" }", "profiles.p.digest 'sha999' is unknown"},
	    {"{ \"purposes\": [\"sign\", \"fly\"] }", "profiles.p.purposes must be"},
	    {"{ \"purposes\": [] }", "profiles.p.purposes must be"},
	    {"{ \"purposes\": \"sign\" }", "profiles.p.purposes must be"},
	    {"{ \"purposes\": [1] }", "profiles.p.purposes must be"},
	    {"{ \"email_san\": \"yes\" }", "profiles.p.email_san must be true or false"},
	    {"{ \"dns_san\": 1 }", "profiles.p.dns_san must be true or false"},
	    {"{ \"base\": \"nope\" }", "profiles.p.base 'nope' is not a built-in profile"},
	    {"{ \"base\": 5 }", "profiles.p.base must be a string"},
	    {"{ \"colour\": \"red\" }", "unknown key 'profiles.p.colour' (a profile takes: base,"},
	    {"\"smime\"", "profiles.p must be an object"},
	};
	char text[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{ \"profiles\": { \"p\": %s } }", bad[i].def);
		expect_error(text, P11E_CONFIG, bad[i].needle);
	}
}

static void profiles(void)
{
	p11e_config c;
	p11e_profile p, builtin;
	p11e_err err = {0};
	const char *path = write_config(
	    "profiles.json",
	    "{ \"default_profile\": \"staff\",\n"
	    "  \"profiles\": {\n"
	    "    \"staff\": { \"base\": \"smime-sign\", \"subject\": \"/O=Example\",\n"
	    "                 \"validity_days\": 730, \"key\": \"ec:P-384\" },\n"
	    "    \"plain\": {},\n"
	    "    \"smime\": { \"validity_days\": 90 },\n"
	    "    \"tls\": { \"base\": \"client-auth\", \"dns_san\": true, \"email_san\": false,\n"
	    "             \"validity_days\": 3650 },\n"
	    "    \"enc\": { \"purposes\": [\"encrypt\"], \"digest\": \"sha384\",\n"
	    "             \"key\": \"rsa:3072\", \"validity_days\": 1 } } }\n");

	CHECK_RC(p11e_config_load(path, &c, &err), P11E_OK, &err);
	CHECK(eq(c.default_profile, "staff"));

	CHECK_RC(p11e_config_profile(&c, "staff", &p, &err), P11E_OK, &err);
	CHECK(eq(p.name, "staff") && p.purposes == P11E_PURPOSE_SIGN);
	CHECK(p.validity_days == 730 && eq(p.default_key, "ec:P-384"));
	CHECK(eq(p.subject, "/O=Example"));

	/* No fields: the base (smime) under another name. */
	CHECK_RC(p11e_profile_builtin("smime", &builtin, &err), P11E_OK, &err);
	CHECK_RC(p11e_config_profile(&c, "plain", &p, &err), P11E_OK, &err);
	CHECK(eq(p.name, "plain") && p.purposes == builtin.purposes &&
	      p.validity_days == builtin.validity_days && eq(p.digest, builtin.digest) &&
	      eq(p.default_key, builtin.default_key) && eq(p.subject, builtin.subject) &&
	      p.allow_email_san == builtin.allow_email_san &&
	      p.allow_dns_san == builtin.allow_dns_san);

	/* The config may redefine a built-in name. */
	CHECK_RC(p11e_config_profile(&c, "smime", &p, &err), P11E_OK, &err);
	CHECK(p.validity_days == 90 && p.purposes == builtin.purposes);

	CHECK_RC(p11e_config_profile(&c, "tls", &p, &err), P11E_OK, &err);
	CHECK(p.purposes == P11E_PURPOSE_CLIENT_AUTH && p.allow_dns_san == 1 &&
	      p.allow_email_san == 0 && p.validity_days == 3650);
	CHECK_RC(p11e_config_profile(&c, "enc", &p, &err), P11E_OK, &err);
	CHECK(p.purposes == P11E_PURPOSE_ENCRYPT && eq(p.digest, "sha384") &&
	      eq(p.default_key, "rsa:3072") && p.validity_days == 1);

	/* Built-ins the config does not redefine are still there. */
	CHECK_RC(p11e_config_profile(&c, "smime-sign", &p, &err), P11E_OK, &err);
	CHECK(p.purposes == P11E_PURPOSE_SIGN);
	CHECK_RC(p11e_config_profile(&c, "nobody", &p, &err), P11E_NOT_FOUND, &err);
	CHECK(strstr(err.msg, "profile 'nobody' is not defined (built-in:") != NULL);
	p11e_config_clear(&c);
}

static void cas_and_paths(void)
{
	p11e_config c;
	p11e_err err = {0};
	json_object *ca = NULL, *again = NULL;
	char want[PATH_MAX + 100], cwd[PATH_MAX], dir[600], path[600];

	snprintf(dir, sizeof(dir), "%s/etc", tmp);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s",
		 write_config(
		     "etc/config.json",
		     "{ \"state_dir\": \"state\", \"default_ca\": \"corp\",\n"
		     "  \"module\": \"lib/module.so\", \"pin_source\": \"file:pins/user\",\n"
		     "  \"cas\": { \"corp\": { \"type\": \"local\", \"dir\": \"ca-dir\",\n"
		     "                       \"module\": \"p11-kit-proxy.so\",\n"
		     "                       \"pin_source\": \"env:CA_PIN\" },\n"
		     "           \"abs\": { \"type\": \"local\", \"dir\": \"/srv/ca\" },\n"
		     "           \"remote\": { \"type\": \"cfssl\", \"url\": \"https://ca:8888\",\n"
		     "                         \"ca_bundle\": \"tls/ca.pem\",\n"
		     "                         \"auth_key_file\": \"/etc/key\", \"retries\": 3 },\n"
		     "           \"dc\": { \"type\": \"digicert\",\n"
		     "                     \"api_key_source\": \"file:keys/dc\",\n"
		     "                     \"product\": \"a/b\" },\n"
		     "           \"acme\": { \"type\": \"acme\", \"webroot\": \"www\" } } "
		     "}\n"));
	CHECK_RC(p11e_config_load(path, &c, &err), P11E_OK, &err);
	CHECK(eq(c.path, path));
	/* Relative to the file's directory, not the working directory. */
	snprintf(want, sizeof(want), "%s/state", dir);
	CHECK(eq(c.state_dir, want));
	snprintf(want, sizeof(want), "%s/lib/module.so", dir);
	CHECK(eq(c.module, want));
	snprintf(want, sizeof(want), "file:%s/pins/user", dir);
	CHECK(eq(c.pin_source, want));
	CHECK(eq(c.default_ca, "corp"));

	CHECK_RC(p11e_config_ca(&c, "corp", &ca, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "%s/ca-dir", dir);
	CHECK(eq(str(ca, "type"), "local") && eq(str(ca, "dir"), want));
	CHECK(eq(str(ca, "module"), "p11-kit-proxy.so")); /* a bare name: dlopen's search */
	CHECK(eq(str(ca, "pin_source"), "env:CA_PIN"));
	/* A copy: changing it changes nothing for the next caller, and it
	 * outlives the config. */
	json_object_object_add(ca, "dir", json_object_new_string("/elsewhere"));
	CHECK_RC(p11e_config_ca(&c, "corp", &again, &err), P11E_OK, &err);
	CHECK(eq(str(again, "dir"), want));
	json_object_put(again);

	CHECK_RC(p11e_config_ca(&c, "abs", &again, &err), P11E_OK, &err);
	CHECK(eq(str(again, "dir"), "/srv/ca"));
	json_object_put(again);
	CHECK_RC(p11e_config_ca(&c, "remote", &again, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "%s/tls/ca.pem", dir);
	CHECK(eq(str(again, "type"), "cfssl") && eq(str(again, "ca_bundle"), want) &&
	      eq(str(again, "auth_key_file"), "/etc/key") &&
	      eq(str(again, "url"), "https://ca:8888"));
	json_object_put(again);

	/* By naming rule, for every backend: "*_source" is a secret source,
	 * "webroot" a path; other strings are left alone. */
	CHECK_RC(p11e_config_ca(&c, "dc", &again, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "file:%s/keys/dc", dir);
	CHECK(eq(str(again, "api_key_source"), want) && eq(str(again, "product"), "a/b"));
	/* ... and the state dir, for a backend's own state (ACME's account). */
	CHECK(eq(str(again, "_state_dir"), c.state_dir));
	json_object_put(again);
	CHECK_RC(p11e_config_ca(&c, "acme", &again, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "%s/www", dir);
	CHECK(eq(str(again, "webroot"), want));
	json_object_put(again);

	CHECK_RC(p11e_config_ca(&c, "local:/srv/ca", &again, &err), P11E_OK, &err);
	CHECK(eq(str(again, "type"), "local") && eq(str(again, "dir"), "/srv/ca"));
	json_object_put(again);
	/* local:DIR from the command line: relative to the working directory. */
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_RC(p11e_config_ca(&c, "local:my-ca", &again, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "%s/my-ca", cwd);
	CHECK(eq(str(again, "dir"), want));
	json_object_put(again);
	again = (json_object *)&err; /* must be reset on failure */
	CHECK_RC(p11e_config_ca(&c, "local:", &again, &err), P11E_USAGE, &err);
	CHECK(again == NULL);
	CHECK_RC(p11e_config_ca(&c, "nowhere", &again, &err), P11E_CONFIG, &err);
	CHECK(again == NULL &&
	      eq(err.msg, "ca 'nowhere' is not defined in the config (or use local:DIR)"));
	CHECK_RC(p11e_config_ca(&c, "", &again, &err), P11E_CONFIG, &err);
	p11e_config_clear(&c);
	CHECK(eq(str(ca, "type"), "local"));
	json_object_put(ca);

	/* default_ca "local:REL" in the file is relative to the file too, and
	 * a file named without a directory is relative to where we are. */
	CHECK(chdir(dir) == 0);
	write_config("etc/rel.json", "{ \"default_ca\": \"local:ca\", \"state_dir\": \"s\" }");
	CHECK_RC(p11e_config_load("rel.json", &c, &err), P11E_OK, &err);
	snprintf(want, sizeof(want), "local:%s/ca", dir);
	CHECK(eq(c.default_ca, want));
	snprintf(want, sizeof(want), "%s/s", dir);
	CHECK(eq(c.state_dir, want));
	p11e_config_clear(&c);
	CHECK(chdir(cwd) == 0);

	/* $P11ENROLL_CONFIG is used when no path is given; --config wins. */
	setenv("P11ENROLL_CONFIG", path, 1);
	CHECK_RC(p11e_config_load(NULL, &c, &err), P11E_OK, &err);
	CHECK(eq(c.path, path) && eq(c.default_ca, "corp"));
	p11e_config_clear(&c);
	snprintf(want, sizeof(want), "%s/etc/rel.json", tmp);
	CHECK_RC(p11e_config_load(want, &c, &err), P11E_OK, &err);
	CHECK(eq(c.path, want));
	p11e_config_clear(&c);
	unsetenv("P11ENROLL_CONFIG");
}

/* Finding 7: unknown keys inside CA and vault entries, each named by its
 * full path, against the backend's own list; duplicate keys at any depth. */
static void strict_keys(void)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
	    {"{\"cas\":{\"c\":{\"type\":\"local\",\"dir\":\"ca\",\"dri\":\"x\"}}}",
	     "unknown key 'cas.c.dri' (a local CA takes: type, dir, module, pin_source"},
	    {"{\"cas\":{\"corp\":{\"type\":\"cfssl\",\"url\":\"https://ca:8888\",\n"
	     "  \"auth_key_fil\":\"k\"}}}",
	     "unknown key 'cas.corp.auth_key_fil' (a cfssl CA takes: type, url,"},
	    {"{\"cas\":{\"a\":{\"type\":\"acme\",\"http01_listne\":\"x\"}}}",
	     "unknown key 'cas.a.http01_listne'"},
	    {"{\"cas\":{\"s\":{\"type\":\"scep\",\"challange_password_file\":\"x\"}}}",
	     "unknown key 'cas.s.challange_password_file'"},
	    {"{\"cas\":{\"d\":{\"type\":\"digicert\",\"api_key\":\"x\"}}}",
	     "unknown key 'cas.d.api_key'"},
	    {"{\"cas\":{\"x\":{\"type\":\"bogus\"}}}",
	     "cas.x.type 'bogus' is not a CA type (known: local, cfssl, acme, digicert, scep"},
	    {"{\"cas\":{\"c\":{\"type\":\"local\",\"dir\":\"ca\",\"_state_dir\":\"/x\"}}}",
	     "cas.c._state_dir: keys starting with '_' are reserved"},
	    {"{\"vault\":{\"type\":\"file\",\"officer_certs_file\":\"o.pem\",\"dri\":\"x\"}}",
	     "unknown key 'vault.dri' (a file vault takes: type, dir, officer_certs_file, cipher"},
	    {"{\"vault\":{\"type\":\"vault-kv2\",\"url\":\"https://v\",\n"
	     " \"approle\":{\"role_id\":\"r\",\"mont\":\"a\"}}}",
	     "unknown key 'vault.approle.mont' (vault.approle takes: role_id, secret_id_source, "
	     "mount;"},
	    /* A dotted key must not pass for a nested one of the list. */
	    {"{\"vault\":{\"type\":\"vault-kv2\",\"approle.mount\":\"a\"}}",
	     "unknown key 'vault.approle.mount'"},
	    {"{\"vault\":{\"type\":\"hsm\"}}", "vault.type 'hsm' is not a vault type (known: "
					       "file, vault-kv2, cyberark)"},
	    {"{\"module\":\"/a.so\",\"module\":\"/b.so\"}", "duplicate key 'module'"},
	    {"{\"cas\":{\"c\":{\"type\":\"local\",\"dir\":\"a\",\"dir\":\"b\"}}}",
	     "duplicate key 'cas.c.dir'"},
	    {"{\"cas\":{\"c\":{\"type\":\"local\",\"dir\":\"a\"},\"c\":{\"type\":\"local\"}}}",
	     "duplicate key 'cas.c'"},
	    /* Equal once decoded, as the parser sees them. */
	    {"{\"profiles\":{\"p\":{\"key\":\"ec:P-256\",\"\\u006bey\":\"rsa:2048\"}}}",
	     "duplicate key 'profiles.p.key'"},
	    {"{\"cas\":{\"a\":{\"type\":\"acme\",\"contact\":[\"x\",{\"m\":1,\"m\":2}]}}}",
	     "duplicate key 'cas.a.contact[1].m'"},
	    {"{\"cas\":{\"c\":{\"type\":\"cfssl\",\"url\":\"https://c\",\n"
	     " \"profiles\":{\"smime\":\"a\",\"smime\":\"b\"}}}}",
	     "duplicate key 'cas.c.profiles.smime'"},
	};
	p11e_config c;
	p11e_err err = {0};
	const char *path;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].text, P11E_CONFIG, bad[i].needle);

	/* Every documented key of every backend passes; a cfssl "profiles" map
	 * takes names of the user's choosing. */
	path = write_config(
	    "all.json",
	    "{ \"state_dir\": \"/tmp/s\", \"audit_log\": \"a.jsonl\",\n"
	    "  \"cas\": {\n"
	    "   \"l\": "
	    "{\"type\":\"local\",\"dir\":\"ca\",\"module\":\"m.so\",\"pin_source\":\"env:P\"},\n"
	    "   \"c\": {\"type\":\"cfssl\",\"url\":\"https://c\",\"ca_bundle\":\"b.pem\",\n"
	    "         \"profile\":\"p\",\"profiles\":{\"smime\":\"a\",\"staff\":\"b\"},\n"
	    "         \"auth_key_file\":\"k\",\"label\":\"\",\"timeout\":5,\"connect_timeout\":5,\n"
	    "         \"retries\":1},\n"
	    "   \"d\": {\"type\":\"digicert\",\"url\":\"https://d\",\"api_key_source\":\"env:K\",\n"
	    "         \"product\":\"p\",\"organization_id\":1,\"container_id\":2,\n"
	    "         "
	    "\"payment_method\":\"balance\",\"skip_approval\":true,\"profile_type\":\"strict\",\n"
	    "         \"common_name_indicator\":\"email_address\",\"poll_interval\":60},\n"
	    "   \"s\": "
	    "{\"type\":\"scep\",\"url\":\"https://s\",\"challenge_password_file\":\"f\",\n"
	    "         \"challenge_password_source\":\"env:C\",\"ca_fingerprint\":\"AA\",\n"
	    "         \"ca_identifier\":\"i\",\"poll_interval\":60},\n"
	    "   \"a\": "
	    "{\"type\":\"acme\",\"url\":\"https://a\",\"terms_agreed\":true,\"dir\":\"d\",\n"
	    "         \"account_key_file\":\"k\",\"account_key_uri\":\"pkcs11:id=%01\",\n"
	    "         "
	    "\"account_key_type\":\"ec:P-256\",\"module\":\"m\",\"pin_source\":\"env:P\",\n"
	    "         \"eab_kid\":\"k\",\"eab_hmac_key_file\":\"h\",\"contact\":[\"a@b\"],\n"
	    "         "
	    "\"http01_listen\":\"127.0.0.1:80\",\"webroot\":\"w\",\"email_identifiers\":false,\n"
	    "         \"wait\":10} },\n"
	    "  \"vault\": "
	    "{\"type\":\"vault-kv2\",\"url\":\"https://v\",\"mount\":\"m\",\"path\":\"p\",\n"
	    "         "
	    "\"namespace\":\"n\",\"ca_bundle\":\"b\",\"timeout\":5,\"connect_timeout\":5,\n"
	    "         "
	    "\"retries\":1,\"approle\":{\"role_id\":\"r\",\"secret_id_source\":\"env:S\",\n"
	    "         \"mount\":\"approle\"}} }\n");
	CHECK_RC(p11e_config_load(path, &c, &err), P11E_OK, &err);
	p11e_config_clear(&c);
	path = write_config(
	    "file-vault.json",
	    "{\"vault\":{\"type\":\"file\",\"dir\":\"e\",\"officer_certs_file\":\"o\",\n"
	    "  \"cipher\":\"aes-256-cbc\"}}");
	CHECK_RC(p11e_config_load(path, &c, &err), P11E_OK, &err);
	p11e_config_clear(&c);
}

/* p11e_config_parse: the loader without a file (the fuzz harness's way in). */
static void from_buffer(void)
{
	static const char text[] = "{ \"state_dir\": \"st\", \"default_profile\": \"p\",\n"
				   "  \"profiles\": { \"p\": { \"validity_days\": 10 } } }";
	p11e_config c;
	p11e_profile p;
	p11e_err err = {0};

	/* No NUL needed at the end: only len bytes are read. */
	CHECK_RC(p11e_config_parse("/etc/x/config.json", text, sizeof(text) - 1, &c, &err), P11E_OK,
		 &err);
	CHECK(eq(c.path, "/etc/x/config.json") && eq(c.state_dir, "/etc/x/st"));
	CHECK_RC(p11e_config_profile(&c, "p", &p, &err), P11E_OK, &err);
	CHECK(p.validity_days == 10);
	p11e_config_clear(&c);
	CHECK_RC(p11e_config_parse("mem", text, 10, &c, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "config mem: parse error at line 1") != NULL);
	CHECK(c.path == NULL && c.root == NULL);
}

int main(void)
{
	tmp = getenv("TEST_TMP");
	if (tmp == NULL || getenv("HOME") == NULL) {
		fprintf(stderr, "TEST_TMP or HOME is not set: run under tests/with-softhsm.sh\n");
		return 1;
	}
	unsetenv("P11ENROLL_CONFIG");
	unsetenv("XDG_STATE_HOME");
	defaults();
	file_errors();
	profile_errors();
	profiles();
	cas_and_paths();
	strict_keys();
	from_buffer();
	return check_done();
}
