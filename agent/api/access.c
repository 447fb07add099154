/* Who may call what on the agent's API: see access.h. */
#include "api/access.h"

#include <string.h>

static bool is(const char *a, const char *b)
{
	return !strcmp(a, b);
}

/* url is PREFIX or PREFIX/... */
static bool under(const char *url, const char *prefix)
{
	size_t n = strlen(prefix);

	return !strncmp(url, prefix, n) && (url[n] == '\0' || url[n] == '/');
}

enum mc_access mc_access_of(const char *method, const char *url, bool unix_socket)
{
	bool get = is(method, "GET"), put = is(method, "PUT") || is(method, "POST");

	if (get && (is(url, "/healthz") || is(url, "/readyz") || is(url, "/metrics")))
		return MC_ACCESS_ANYONE;
	if (!unix_socket)
		return MC_ACCESS_NOT_FOUND;
	if (get && (is(url, "/v1/status") || is(url, "/v1/stats")))
		return MC_ACCESS_CALLER;
	if ((get || is(method, "POST")) && is(url, "/v1/pods"))
		return MC_ACCESS_SELF;
	if (is(method, "DELETE") && !strncmp(url, "/v1/pods/", 9) && url[9])
		return MC_ACCESS_SELF;
	if (put && (is(url, "/v1/mode") || is(url, "/v1/config")))
		return MC_ACCESS_ADMIN;
	if (get && is(url, "/v1/refusals")) /* other pods' names and IPs */
		return MC_ACCESS_ADMIN;
	if (under(url, "/v1/monitor")) /* every method: the monitor answers 404/405 itself */
		return MC_ACCESS_ADMIN;
	return MC_ACCESS_NOT_FOUND;
}

bool mc_is_admin(const struct mc_caller *who, uint64_t own_netns)
{
	return who->known && who->uid == 0 && own_netns != 0 && who->netns == own_netns;
}
