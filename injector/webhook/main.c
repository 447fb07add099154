/* meshcut-webhook: the mutating admission webhook that adds meshcut-init to
 * pods Istio has given a sidecar. main wires the pieces: options, the TLS key
 * pair (tls_reload), the HTTPS server (server), and a signal loop that also
 * looks at the certificate files every --reload-interval seconds. */
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "server.h"
#include "tls_reload.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct options o;
	struct server *s;
	struct metrics_server *m = NULL;
	sigset_t sigs;
	siginfo_t si;
	int ret = options_parse(argc, argv, &o);

	if (ret)
		return ret > 0 ? EXIT_SUCCESS : 2;
	mc_log_init("meshcut-webhook", o.verbose ? MC_LOG_DEBUG : MC_LOG_INFO, o.log_json);

	/* signals are taken by sigtimedwait below: block them before any thread
	 * starts, so that every thread inherits the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN); /* a peer gone mid-reply is MHD's business */

	if (tls_reload_init(o.cert, o.key) < 0)
		return EXIT_FAILURE;
	s = server_start(o.listen, &o.inject);
	if (s && o.metrics_listen && !(m = metrics_server_start(o.metrics_listen))) {
		server_stop(s, 0);
		s = NULL;
	}
	if (!s) {
		tls_reload_cleanup();
		return EXIT_FAILURE;
	}
	for (;;) {
		struct timespec wait = { .tv_sec = o.reload_interval };
		int sig = sigtimedwait(&sigs, &si, &wait);

		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			tls_reload_force();
		else if (sig < 0 && errno == EAGAIN)
			tls_reload_check();
	}
	pr_info("shutting down: unready for %us, then draining", o.shutdown_delay);
	server_unready(s);
	sleep(o.shutdown_delay);
	server_stop(s, 10);
	metrics_server_stop(m);
	tls_reload_cleanup();
	pr_info("stopped");
	return EXIT_SUCCESS;
}
