/* tls_reload: see tls_reload.h. The PEM text of the current pair is kept under
 * a mutex; each handshake gets its own parsed copy, handed over with
 * GNUTLS_CERT_RETR_DEINIT_ALL so that GnuTLS frees it with the session. A pair
 * swapped out is therefore never freed under a session still using it. */
#include "tls_reload.h"

#include "log.h"

#include <gnutls/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_CHAIN 16

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static struct {
	const char *cert_path, *key_path;
	struct file_id cert_id, key_id; /* what the last look saw */
	pthread_mutex_t lock;           /* guards cert and key */
	gnutls_datum_t cert, key;       /* PEM text of the pair in use */
} tls = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void file_id(const char *path, struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) == 0) { /* follows the kubelet's ..data symlinks */
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		id->size = st.st_size;
		id->mtime = st.st_mtim;
	}
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Checks that cert (a chain, leaf first) and key form a usable pair: GnuTLS
 * refuses a key that does not match the leaf. Logs the leaf's expiry. */
static int check_pair(const gnutls_datum_t *cert, const gnutls_datum_t *key)
{
	gnutls_certificate_credentials_t cred;
	gnutls_x509_crt_t leaf;
	char when[32] = "?";
	int ret;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return GNUTLS_E_MEMORY_ERROR;
	ret = gnutls_certificate_set_x509_key_mem2(cred, cert, key, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	if (ret < 0)
		return ret;
	if (gnutls_x509_crt_init(&leaf) == 0) {
		if (gnutls_x509_crt_import(leaf, cert, GNUTLS_X509_FMT_PEM) == 0) {
			time_t t = gnutls_x509_crt_get_expiration_time(leaf);
			struct tm tm;

			if (gmtime_r(&t, &tm))
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		gnutls_x509_crt_deinit(leaf);
	}
	pr_info("serving certificate %s loaded (expires %s)", tls.cert_path, when);
	return 0;
}

static int load(void)
{
	gnutls_datum_t cert = { NULL, 0 }, key = { NULL, 0 }, old_cert, old_key;
	int ret;

	ret = gnutls_load_file(tls.cert_path, &cert);
	if (ret < 0) {
		pr_err("cannot read %s: %s", tls.cert_path, gnutls_strerror(ret));
		goto out;
	}
	ret = gnutls_load_file(tls.key_path, &key);
	if (ret < 0) {
		pr_err("cannot read %s: %s", tls.key_path, gnutls_strerror(ret));
		goto out;
	}
	ret = check_pair(&cert, &key);
	if (ret < 0) {
		pr_err("certificate %s with key %s: %s", tls.cert_path, tls.key_path,
		       gnutls_strerror(ret));
		goto out;
	}
	pthread_mutex_lock(&tls.lock);
	old_cert = tls.cert;
	old_key = tls.key;
	tls.cert = cert;
	tls.key = key;
	pthread_mutex_unlock(&tls.lock);
	cert = old_cert;
	key = old_key;
out:
	gnutls_free(cert.data);
	gnutls_free(key.data);
	return ret < 0 ? -1 : 0;
}

int tls_reload_init(const char *cert_path, const char *key_path)
{
	tls.cert_path = cert_path;
	tls.key_path = key_path;
	file_id(cert_path, &tls.cert_id);
	file_id(key_path, &tls.key_id);
	return load();
}

void tls_reload_check(void)
{
	struct file_id cert_id, key_id;

	file_id(tls.cert_path, &cert_id);
	file_id(tls.key_path, &key_id);
	if (same_id(&cert_id, &tls.cert_id) && same_id(&key_id, &tls.key_id))
		return;
	pr_info("%s or %s changed, reloading", tls.cert_path, tls.key_path);
	/* a failed load keeps the old ids, so the next look retries (the other
	 * file of the pair may still be on its way) */
	if (load() == 0) {
		tls.cert_id = cert_id;
		tls.key_id = key_id;
	}
}

void tls_reload_force(void)
{
	memset(&tls.cert_id, 0, sizeof(tls.cert_id));
	memset(&tls.key_id, 0, sizeof(tls.key_id));
	tls_reload_check();
}

int tls_reload_retrieve(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
			gnutls_pcert_st **certs, unsigned int *certs_length,
			gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length,
			gnutls_privkey_t *privkey, unsigned int *flags)
{
	gnutls_pcert_st *chain = gnutls_malloc(MAX_CHAIN * sizeof(*chain));
	unsigned int n = MAX_CHAIN;
	gnutls_privkey_t key = NULL;
	bool have_chain;
	int ret;

	(void)session;
	(void)info;
	*ocsp = NULL;
	*ocsp_length = 0;
	if (!chain)
		return -1;
	pthread_mutex_lock(&tls.lock);
	ret = gnutls_pcert_list_import_x509_raw(chain, &n, &tls.cert, GNUTLS_X509_FMT_PEM, 0);
	have_chain = ret == 0;
	if (ret == 0)
		ret = gnutls_privkey_init(&key);
	if (ret == 0)
		ret = gnutls_privkey_import_x509_raw(key, &tls.key, GNUTLS_X509_FMT_PEM, NULL, 0);
	pthread_mutex_unlock(&tls.lock);
	if (ret < 0) {
		pr_err("TLS handshake: current key pair unusable: %s", gnutls_strerror(ret));
		if (key)
			gnutls_privkey_deinit(key);
		for (unsigned int i = 0; have_chain && i < n; i++)
			gnutls_pcert_deinit(&chain[i]);
		gnutls_free(chain);
		return -1;
	}
	*certs = chain;
	*certs_length = n;
	*privkey = key;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;
	return 0;
}

void tls_reload_cleanup(void)
{
	pthread_mutex_lock(&tls.lock);
	gnutls_free(tls.cert.data);
	gnutls_free(tls.key.data);
	tls.cert = (gnutls_datum_t){ NULL, 0 };
	tls.key = (gnutls_datum_t){ NULL, 0 };
	pthread_mutex_unlock(&tls.lock);
}
