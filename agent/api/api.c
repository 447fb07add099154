/* The agent's HTTP/JSON API over libmicrohttpd: see api.h. */
#include "api/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "api/access.h"
#include "api/api_metrics.h"
#include "api/liveness.h"
#include "http_server.h"
#include "log.h"
#include "monitor/session.h"
#include "netns.h"
#include "api/podwatch.h"
#include "api/ratelimit.h"
#include "api/registration.h"
#include "shortcut/stats.h"
#include "crossnode/tc.h"
#include "api/verify.h"
#include "api/why.h"

struct mc_api {
	struct mc_agent *agent;
	struct MHD_Daemon *mhd;
	bool unix_socket; /* false: read-only TCP listener */
	bool metrics_only; /* --metrics: GET /metrics, nothing else */
	int fd;
	char path[108];
	struct mc_refusals refusals; /* the last refused registrations (why.h) */
};

struct caller {
	struct mc_caller id; /* netns, uid (access.h) */
	int fd; /* the accepted socket: verification reads the caller's netns from it */
};

#define ADMIN_ONLY "needs an admin caller: uid 0 in the agent's network namespace (run meshcut in the agent's pod)"

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	if (!text) {
		pr_err("http: could not build the JSON answer (status %u)", status);
		return mc_http_reply(c, 500, "application/json",
			     strdup("{\"error\": \"internal error: the answer could not be built\", \"status\": 500}\n"));
	}
	return mc_http_reply(c, status, "application/json", text);
}

static enum MHD_Result reply_msg(struct MHD_Connection *c, unsigned int status, const char *msg)
{
	return reply_json(c, status,
			  json_pack("{s:s, s:i}", status < 400 ? "message" : "error", msg, "status",
				    (int)status));
}

static void who_calls(struct MHD_Connection *c, struct caller *who)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	socklen_t len = sizeof(struct ucred);
	struct ucred cred;

	memset(who, 0, sizeof(*who));
	who->fd = -1;
	if (!ci)
		return;
	who->fd = ci->connect_fd;
	if (mc_sock_netns_cookie(ci->connect_fd, &who->id.netns))
		return;
	if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return;
	who->id.uid = cred.uid;
	who->id.known = true;
}

static bool is_admin(struct mc_api *api, const struct caller *who)
{
	return mc_is_admin(&who->id, api->agent->own_netns);
}

/* a refused registration: remembered for `meshcut why` (why.h), then answered */
static enum MHD_Result refuse(struct mc_api *api, struct MHD_Connection *c,
			      const struct caller *who, const struct mc_registration *r,
			      unsigned int status, const char *msg)
{
	char key[sizeof(r->namespace) + sizeof(r->name) + 1] = "", ip4[64] = "", ip6[64] = "";

	if (r && r->namespace[0] && r->name[0])
		snprintf(key, sizeof(key), "%s/%s", r->namespace, r->name);
	if (r && !mc_addr_zero(&r->ip4))
		mc_format_ip(&r->ip4, ip4, sizeof(ip4));
	if (r && !mc_addr_zero(&r->ip6))
		mc_format_ip(&r->ip6, ip6, sizeof(ip6));
	mc_refusals_add(&api->refusals, key, ip4, ip6, who->id.netns, (int)status, msg, time(NULL));
	return reply_json(c, status, json_pack("{s:s, s:i, s:I}", "error", msg, "status", (int)status,
					       "netns_cookie", (json_int_t)who->id.netns));
}

static enum MHD_Result do_register(struct mc_api *api, struct MHD_Connection *c,
				   const struct caller *who, struct mc_http_body *req)
{
	uint64_t netns = who->id.netns;
	struct mc_registration r;
	struct mc_pod stored;
	char err[256], msg[320];
	int status, nsid;

	memset(&r, 0, sizeof(r));
	if (!who->id.known)
		return mc_reg_count(MC_REG_UNIDENTIFIED, 403),
		       refuse(api, c, who, NULL, 403, "cannot identify the caller's network namespace");
	/* per-caller rate limit (agent/api/ratelimit.h) */
	status = mc_limits_request(&api->agent->limits, netns, api->agent->own_netns, msg,
				   sizeof(msg));
	if (status) { /* over its rate: not even parsed (the limit bounds work), so
		       * `meshcut why` knows it by network namespace only */
		mc_reg_count(MC_REG_OTHER, status);
		return refuse(api, c, who, NULL, (unsigned int)status, msg);
	}
	if (mc_registration_parse(req->buf ? req->buf : "", req->len, &r, err, sizeof(err)))
		return mc_reg_count(MC_REG_BAD_REQUEST, 400), refuse(api, c, who, &r, 400, err);
	if (netns == api->agent->own_netns)
		return mc_reg_count(MC_REG_HOST_NETNS, 403), refuse(api, c, who, &r, 403, "registration must come from the pod's network "
						     "namespace, not the node's");
	status = mc_verify_registration(who->fd, netns, &r, &nsid, msg, sizeof(msg));
	mc_podwatch_hold(api->agent);
	if (status)
		mc_reg_count(MC_REG_VERIFY, status);
	if (!status) {
		/* registrations whose namespace is gone give way (podwatch.h) */
		mc_podwatch_clear_way(api->agent, &r, netns, nsid);
		status = mc_registry_add(&api->agent->reg, &r, netns, nsid, &stored, msg, sizeof(msg));
		mc_reg_count(MC_REG_OTHER, status);
	}
	if (status >= 400) {
		pr_warn("registration of %s/%s refused (%d): %s", r.namespace, r.name, status, msg);
	} else {
		pr_info("%s (netns %llu, netnsid %d)", msg, (unsigned long long)netns, nsid);
		mc_tc_pod_added(api->agent, &stored);
		mc_refusals_forget(&api->refusals, NULL, netns);
	}
	mc_podwatch_release(api->agent);
	if (status >= 400)
		return refuse(api, c, who, &r, (unsigned int)status, msg);
	return reply_json(c, (unsigned int)status,
			  json_pack("{s:s, s:i, s:I}", "message", msg, "status", status,
				    "netns_cookie", (json_int_t)netns));
}

static enum MHD_Result do_deregister(struct mc_api *api, struct MHD_Connection *c,
				     const struct caller *who, const char *key)
{
	const char *want = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "netns");
	unsigned long long want_netns = 0;
	struct mc_pod removed;
	char msg[320], *end;
	int status;

	if (!who->id.known)
		return reply_msg(c, 403, "cannot identify the caller's network namespace");
	/* per-caller rate limit (agent/api/ratelimit.h) */
	status = mc_limits_request(&api->agent->limits, who->id.netns, api->agent->own_netns, msg,
				   sizeof(msg));
	if (status)
		return reply_msg(c, (unsigned int)status, msg);
	if (want) {
		errno = 0;
		want_netns = strtoull(want, &end, 10);
		if (errno || *end || !*want || *want == '-' || want_netns == 0)
			return reply_msg(c, 400, "netns: a netns cookie (a positive integer, as GET "
						 "/v1/pods lists it)");
	}
	/* a pod removes its own registration; an admin any (registry.h) */
	mc_podwatch_hold(api->agent);
	status = mc_registry_remove(&api->agent->reg, key, is_admin(api, who) ? 0 : who->id.netns,
				    want_netns, &removed, msg, sizeof(msg));
	if (status < 400) {
		pr_info("%s", msg);
		mc_tc_pod_removed(api->agent, &removed);
	}
	mc_podwatch_release(api->agent);
	return reply_msg(c, (unsigned int)status, msg);
}

static enum MHD_Result do_mode(struct mc_api *api, struct MHD_Connection *c,
			       struct mc_http_body *req)
{
	struct mc_agent *a = api->agent;
	json_error_t jerr;
	const char *s = NULL;
	char msg[160], modes_s[64];
	uint32_t modes;
	json_t *root;
	int err;

	root = json_loadb(req->buf ? req->buf : "", req->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root) || json_object_size(root) != 1 ||
	    !json_is_string(json_object_get(root, "mode"))) {
		json_decref(root);
		return reply_msg(c, 400, "expected {\"mode\": \"full|off|intra|node|cross|outbound|inbound[,...]\"}");
	}
	s = json_string_value(json_object_get(root, "mode"));
	if (mc_parse_modes(s, &modes)) {
		snprintf(msg, sizeof(msg), "unknown mode \"%.40s\" (full, off, intra, node, cross, outbound, inbound; comma-separated)", s);
		json_decref(root);
		return reply_msg(c, 400, msg);
	}
	json_decref(root);
	pthread_mutex_lock(&a->lock);
	err = mc_dp_set_modes(&a->dp, modes);
	pthread_mutex_unlock(&a->lock);
	if (err)
		return reply_msg(c, 500, strerror(-err));
	mc_mode_string(modes, modes_s, sizeof(modes_s));
	pr_info("mode set to %s: new connections now, live ones through the drain", modes_s);
	snprintf(msg, sizeof(msg), "mode %s", modes_s);
	return reply_json(c, 200, json_pack("{s:s, s:s}", "message", msg, "mode", modes_s));
}

static enum MHD_Result do_config(struct mc_api *api, struct MHD_Connection *c,
				 struct mc_http_body *req)
{
	struct mc_agent *a = api->agent;
	json_error_t jerr;
	json_t *root, *v;
	json_int_t limit;
	const char *key;
	char msg[120];
	int err;

	root = json_loadb(req->buf ? req->buf : "", req->len, JSON_REJECT_DUPLICATES, &jerr);
	key = root && json_is_object(root) && json_object_size(root) == 1
		      ? json_object_iter_key(json_object_iter(root))
		      : NULL;
	v = key ? json_object_get(root, key) : NULL;
	if (!v || !json_is_integer(v) ||
	    (strcmp(key, "backlog_limit") && strcmp(key, "pod_pairs_max"))) {
		json_decref(root);
		return reply_msg(c, 400, "expected {\"backlog_limit\": BYTES} or {\"pod_pairs_max\": SLOTS}");
	}
	limit = json_integer_value(v);
	if (!strcmp(key, "backlog_limit") && (limit < 4096 || limit > 0x7fffffff)) {
		json_decref(root);
		return reply_msg(c, 400, "backlog_limit: 4096 .. 2147483647 bytes");
	}
	if (!strcmp(key, "pod_pairs_max") && (limit < 0 || limit > 0x7fffffff)) {
		json_decref(root);
		return reply_msg(c, 400, "pod_pairs_max: 0 (no limit) .. 2147483647 pair slots");
	}
	pthread_mutex_lock(&a->lock);
	if (!strcmp(key, "backlog_limit")) {
		err = mc_dp_set_backlog_limit(&a->dp, (uint32_t)limit);
		snprintf(msg, sizeof(msg), "backlog limit %lld bytes", (long long)limit);
	} else {
		err = mc_dp_set_pod_pairs_max(&a->dp, (uint32_t)limit);
		snprintf(msg, sizeof(msg), "pod pairs max %lld slots%s", (long long)limit,
			 limit ? "" : " (no limit)");
	}
	pthread_mutex_unlock(&a->lock);
	json_decref(root);
	if (err)
		return reply_msg(c, 500, strerror(-err));
	pr_info("%s", msg);
	return reply_msg(c, 200, msg);
}

/* GET /v1/pods: every registration for an admin, its own for a pod;
 * ?pod=NS/NAME or ?ip=IP: only that pod's, with its live pairs (why.h) */
static enum MHD_Result do_list(struct mc_api *api, struct MHD_Connection *c,
			       const struct caller *who)
{
	const char *pod = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pod");
	const char *ip = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ip");
	json_t *list, *v;
	char err[200];
	size_t i;

	if (is_admin(api, who))
		list = mc_registry_list(&api->agent->reg, 0);
	else
		list = who->id.known ? mc_registry_list(&api->agent->reg, who->id.netns) : NULL;
	if (!list || (!is_admin(api, who) && !json_array_size(list))) {
		json_decref(list);
		return reply_msg(c, 403, "listing every pod " ADMIN_ONLY "; a pod lists only its own "
					 "registration, and this caller has none");
	}
	if (!pod && !ip)
		return reply_json(c, 200, list);
	list = mc_why_filter(list, pod, ip, err, sizeof(err));
	if (!list)
		return reply_msg(c, 400, err);
	json_array_foreach(list, i, v)
		json_object_set_new(v, "pairs",
				    mc_why_pairs(api->agent->dp.pairs, api->agent->dp.max_pairs,
						 (uint64_t)json_integer_value(json_object_get(v, "netns_cookie"))));
	return reply_json(c, 200, list);
}

/* The kernel (or the agent's privileges) refused the datapath: the agent
 * idles, live but never ready, and answers every registration at once, so a
 * pod's init container does not wait for it (it starts without meshcut). */
static enum MHD_Result route_unsupported(struct mc_api *api, struct MHD_Connection *c,
					 const char *url, const char *method)
{
	struct mc_agent *a = api->agent;
	char msg[512];

	if (!strcmp(method, "GET") && !strcmp(url, "/healthz"))
		return mc_http_reply(c, 200, "text/plain",
				     strdup("ok (idle: meshcut cannot run on this node)\n"));
	if (!strcmp(method, "GET") && !strcmp(url, "/readyz")) {
		snprintf(msg, sizeof(msg), "unsupported: %s\n", a->dp.unsupported);
		return mc_http_reply(c, 503, "text/plain", strdup(msg));
	}
	if (!strcmp(method, "GET") && !strcmp(url, "/metrics")) {
		char *t = mc_metrics_text(a);

		return t ? mc_http_reply(c, 200, "text/plain; version=0.0.4", t) : MHD_NO;
	}
	if (!api->unix_socket)
		return reply_msg(c, 404, "not found (the TCP listener serves only /healthz, /readyz "
					 "and /metrics)");
	if (!strcmp(method, "GET") && !strcmp(url, "/v1/status"))
		return reply_json(c, 200, mc_status_json(a));
	if (!strcmp(method, "POST") && !strcmp(url, "/v1/pods"))
		mc_reg_count(MC_REG_UNSUPPORTED, 503);
	snprintf(msg, sizeof(msg), "meshcut cannot run on this node: %s; pods start without it",
		 a->dp.unsupported);
	return reply_json(c, 503, json_pack("{s:s, s:i, s:b}", "error", msg, "status", 503,
					    "unsupported", 1));
}

static enum MHD_Result route(struct mc_api *api, struct MHD_Connection *c, const char *url,
			     const char *method, struct mc_http_body *req)
{
	struct mc_agent *a = api->agent;
	bool get = !strcmp(method, "GET");
	struct caller who;
	char msg[200];

	if (api->metrics_only && !(get && !strcmp(url, "/metrics")))
		return reply_msg(c, 404, "not found (the metrics listener serves only GET /metrics)");
	if (a->dp.unsupported[0])
		return route_unsupported(api, c, url, method);
	switch (mc_access_of(method, url, api->unix_socket)) { /* access.h */
	case MC_ACCESS_NOT_FOUND:
		return reply_msg(c, 404, api->unix_socket ? "not found"
							  : "not found (the TCP listener serves only "
							    "/healthz, /readyz and /metrics)");
	case MC_ACCESS_ANYONE:
		if (!strcmp(url, "/healthz")) { /* the loop's progress (liveness.h) */
			unsigned int st = mc_liveness(
				mc_now_ns(), __atomic_load_n(&a->progress_ns, __ATOMIC_RELAXED),
				__atomic_load_n(&a->drain_since_ns, __ATOMIC_RELAXED),
				a->liveness_bound_ns, msg, sizeof(msg));

			return mc_http_reply(c, st, "text/plain", strdup(msg));
		}
		if (!strcmp(url, "/readyz"))
			return mc_http_reply(c, a->dp.skel ? 200 : 503, "text/plain",
				     strdup(a->dp.skel ? "ready\n" : "datapath not attached\n"));
		{
			char *t = mc_metrics_text(a);

			return t ? mc_http_reply(c, 200, "text/plain; version=0.0.4", t) : MHD_NO;
		}
	case MC_ACCESS_CALLER:
		return reply_json(c, 200, !strcmp(url, "/v1/status") ? mc_status_json(a)
								      : mc_stats_json(a));
	case MC_ACCESS_SELF:
		who_calls(c, &who);
		if (get)
			return do_list(api, c, &who);
		if (!strcmp(method, "POST"))
			return do_register(api, c, &who, req);
		return do_deregister(api, c, &who, url + 9);
	case MC_ACCESS_ADMIN:
		who_calls(c, &who);
		if (!is_admin(api, &who)) {
			snprintf(msg, sizeof(msg), "%.16s %.40s " ADMIN_ONLY, method, url);
			return reply_msg(c, 403, msg);
		}
		if (!strcmp(url, "/v1/mode"))
			return do_mode(api, c, req);
		if (!strcmp(url, "/v1/config"))
			return do_config(api, c, req);
		if (!strcmp(url, "/v1/refusals"))
			return reply_json(c, 200, mc_refusals_json(&api->refusals));
		{
			unsigned int status = 0;
			json_t *mreply = NULL;

			if (mc_monitor_http(a, method, url, req->buf, req->len, &status, &mreply))
				return mreply ? reply_json(c, status, mreply)
					      : mc_http_reply(c, status, "text/plain", strdup(""));
		}
		break;
	}
	return reply_msg(c, 404, "not found");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct mc_api *api = cls;
	struct mc_http_body *req = *con_cls;

	(void)version;
	if (!req) /* the agent's limit is per request only: no budget */
		return mc_http_body_start(con_cls, NULL, 0);
	if (*upload_size)
		return mc_http_body_take(req, upload, upload_size, MC_REG_MAX_BODY);
	if (req->too_large)
		return reply_msg(c, 413, "request body too large");
	return route(api, c, url, method, req);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	pr_debug("http: %s", buf);
}

/* accept path: open connections per caller netns are limited (agent/api/ratelimit.h);
 * one over the limit is answered 429 and closed before any request is read */
static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
			enum MHD_ConnectionNotificationCode toe)
{
	struct mc_api *api = cls;
	const union MHD_ConnectionInfo *ci;

	if (!api->unix_socket)
		return;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		mc_limits_conn_opened(&api->agent->limits, ci ? ci->connect_fd : -1,
				      api->agent->own_netns, socket_ctx);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		mc_limits_conn_closed(&api->agent->limits, socket_ctx);
	}
}

static struct mc_api *start(struct mc_agent *a, int fd, bool unix_socket, bool metrics_only)
{
	struct mc_api *api = calloc(1, sizeof(*api));

	if (!api) {
		close(fd);
		return NULL;
	}
	api->agent = a;
	api->fd = fd;
	api->unix_socket = unix_socket;
	api->metrics_only = metrics_only;
	mc_refusals_init(&api->refusals);
	/* a thread per connection (a monitor session blocks its caller for its
	 * duration); small limits: a slow or hostile client cannot hold the agent */
	api->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL,
		handle, api, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)64, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)(metrics_only ? 4 : 0), /* one scraper needs one */
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)5, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED, mc_http_completed, api,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, api,
		MHD_OPTION_NOTIFY_CONNECTION, conn_notify, api, MHD_OPTION_END);
	if (!api->mhd) {
		close(fd);
		free(api);
		return NULL;
	}
	return api;
}

struct mc_api *mc_api_start_unix(struct mc_agent *a, const char *path, mode_t mode)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct mc_api *api;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		pr_err("socket path too long: %s", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	unlink(path); /* a stale socket of an earlier agent */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || chmod(path, mode) ||
	    listen(fd, 128)) {
		pr_err("listen on %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	api = start(a, fd, true, false);
	if (api)
		snprintf(api->path, sizeof(api->path), "%s", path);
	return api;
}

struct mc_api *mc_api_start_tcp(struct mc_agent *a, const char *addr_port, enum mc_tcp_role role)
{
	struct sockaddr_storage ss;
	unsigned int port;
	int fd, one = 1;

	if (mc_http_parse_listen(addr_port, &ss, &port) || !ss.ss_family || !port) {
		pr_err("%s %s: expected ADDR:PORT (ADDR IPv4 or IPv6, PORT 1-65535)",
		       role == MC_TCP_METRICS ? "--metrics" : "--http", addr_port);
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss,
		 ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) ||
	    listen(fd, 128)) {
		pr_err("listen on %s: %s", addr_port, strerror(errno));
		close(fd);
		return NULL;
	}
	return start(a, fd, false, role == MC_TCP_METRICS);
}

void mc_api_stop(struct mc_api *api)
{
	if (!api)
		return;
	MHD_stop_daemon(api->mhd);
	close(api->fd);
	if (api->path[0])
		unlink(api->path);
	free(api);
}
