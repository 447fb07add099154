/* The webhook's serving certificate, re-read when its files change (cert-manager
 * or the chart rotate the Secret, the kubelet swaps the mounted files). Every
 * TLS handshake asks for the current pair, so a rotation needs no restart and
 * drops no connection: handshakes already done keep the pair they got. */
#ifndef MESHCUT_WEBHOOK_TLS_RELOAD_H
#define MESHCUT_WEBHOOK_TLS_RELOAD_H

#include <gnutls/abstract.h>

/* Loads the pair the first time. Returns 0 or -1 (logged). */
int tls_reload_init(const char *cert_path, const char *key_path);

/* Reloads when either file changed (inode, size or mtime) since the last look.
 * A pair that does not load (half written, key not matching the certificate)
 * is logged and the current pair kept; the next look tries again. */
void tls_reload_check(void);

/* Reloads now (SIGHUP). */
void tls_reload_force(void);

/* The GnuTLS callback libmicrohttpd installs (MHD_OPTION_HTTPS_CERT_CALLBACK2). */
gnutls_certificate_retrieve_function3 tls_reload_retrieve;

void tls_reload_cleanup(void);

#endif
