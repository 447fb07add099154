/*
 * Build-time check: the chart documents every capture setting of
 * lib/capture_settings.h, and nothing else under that name.
 *   capture_settings_doc README.md meshcut-injection-template.yaml
 * - README.md: one row "| `ENV` | `-f` | `annotation` (added to `-f`) | default |"
 *   per setting, with the table's istio-iptables flag, annotation, merge and
 *   default; no row for a variable the table lacks;
 * - the Istio injection template sets every variable ("- name: ENV"), from
 *   the table's annotation when it has one, else to the table's default; and
 *   no other MESHCUT_ capture variable.
 * Run by the build (injector/init/build.mk): a setting added to the table
 * and not to the chart fails `make`. Prints what is wrong, exits 1.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture_settings.h"

struct row {
	const char *env, *annotation, *fallback;
	char shortopt;
	bool merge;
};

static const struct row rows[] = {
#define ROW(id, json, opt, env, kind, metavar, note, shortopt, longopt, ann, dflt, merge) \
	{ env, ann, dflt, shortopt, merge },
	MC_CAPTURE_SETTINGS(ROW)
#undef ROW
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static int errors;

#define BAD(...)                              \
	do {                                  \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr);          \
		errors++;                     \
	} while (0)

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		exit(2);
	}
	buf = calloc(1, (size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(2);
	}
	fclose(f);
	return buf;
}

/* the row whose environment variable is the n bytes at s, or NULL */
static const struct row *row_of(const char *s, size_t n)
{
	for (size_t i = 0; i < NROWS; i++)
		if (strlen(rows[i].env) == n && !memcmp(rows[i].env, s, n))
			return &rows[i];
	return NULL;
}

/* cell i (0-based) of a Markdown table line, trimmed and without backticks */
static void cell(const char *line, int i, char *out, size_t size)
{
	const char *p = line, *end;
	size_t n = 0;

	for (int k = 0; k <= i; k++) {
		p = strchr(p, '|');
		if (!p) {
			*out = '\0';
			return;
		}
		p++;
	}
	end = strchrnul(p, '|');
	for (; p < end && n + 1 < size; p++)
		if (*p != '`')
			out[n++] = *p;
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	memmove(out, out + strspn(out, " "), strlen(out + strspn(out, " ")) + 1);
}

static void check_readme_row(const struct row *r, const char *line, const char *path)
{
	char flag[64], ann[256], dflt[128], want[64] = "";

	cell(line, 1, flag, sizeof(flag));
	cell(line, 2, ann, sizeof(ann));
	cell(line, 3, dflt, sizeof(dflt));
	if (r->shortopt)
		snprintf(want, sizeof(want), "-%c", r->shortopt);
	if (strcmp(flag, want))
		BAD("%s: %s: istio-iptables flag \"%s\", the table says \"%s\"", path, r->env, flag, want);
	if (r->annotation ? strncmp(ann, r->annotation, strlen(r->annotation)) : *ann != '\0')
		BAD("%s: %s: annotation \"%s\", the table says \"%s\"", path, r->env, ann,
		    r->annotation ? r->annotation : "");
	if (r->merge != (strstr(ann, "(added to") != NULL))
		BAD("%s: %s: the table says the annotation %s the flag's list (\"(added to `-%c`)\" after the annotation says it adds)",
		    path, r->env, r->merge ? "adds to" : "replaces", r->shortopt);
	if (strcmp(dflt, r->fallback))
		BAD("%s: %s: default \"%s\", the table says \"%s\"", path, r->env, dflt, r->fallback);
}

static void check_readme(const char *path)
{
	char *text = slurp(path), *line = text;
	bool seen[NROWS] = { false };

	for (; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *name;
		const struct row *r;
		size_t n;

		if (strncmp(line, "| `MESHCUT_", 11))
			continue;
		name = line + 3;
		n = strcspn(name, "`");
		r = row_of(name, n);
		if (!r) {
			BAD("%s: %.*s is documented but is no capture setting of lib/capture_settings.h",
			    path, (int)n, name);
			continue;
		}
		seen[r - rows] = true;
		check_readme_row(r, line, path);
	}
	for (size_t i = 0; i < NROWS; i++)
		if (!seen[i])
			BAD("%s: no row \"| `%s` | ...\" for the capture setting %s", path, rows[i].env,
			    rows[i].env);
	free(text);
}

static void check_template(const char *path)
{
	char *text = slurp(path), want[160];
	const char *p;

	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		const char *value, *eol;

		snprintf(want, sizeof(want), "- name: %s\n", r->env);
		p = strstr(text, want);
		if (!p) {
			BAD("%s: no \"- name: %s\": the template must set every capture setting", path,
			    r->env);
			continue;
		}
		value = p + strlen(want);
		eol = strchrnul(value, '\n');
		if (r->annotation) {
			snprintf(want, sizeof(want), "`%s`", r->annotation);
			p = strstr(value, want);
			if (!p || p > eol)
				BAD("%s: %s is not read from annotation %s", path, r->env, r->annotation);
		} else {
			snprintf(want, sizeof(want), "value: \"%s\"", r->fallback);
			p = strstr(value, want);
			if (!p || p > eol)
				BAD("%s: %s is not %s (the table's default)", path, r->env, want);
		}
	}
	for (p = strstr(text, "- name: MESHCUT_"); p; p = strstr(p + 1, "- name: MESHCUT_")) {
		const char *name = p + 8;

		if (!row_of(name, strcspn(name, "\n")))
			BAD("%s: sets %.*s, which is no capture setting of lib/capture_settings.h",
			    path, (int)strcspn(name, "\n"), name);
	}
	free(text);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s charts/meshcut/README.md ISTIO-TEMPLATE.yaml\n", argv[0]);
		return 2;
	}
	check_readme(argv[1]);
	check_template(argv[2]);
	if (errors)
		fprintf(stderr, "%d difference(s) between lib/capture_settings.h and the chart\n",
			errors);
	return errors ? 1 : 0;
}
