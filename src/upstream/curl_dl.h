/*
 * curl_dl.h - libcurl, loaded only when a provider needs it.
 *
 * libcurl brings TLS, Kerberos, LDAP and SSH libraries with it: about 7 MB of
 * resident shared pages in a process that serves only local plain-HTTP
 * upstreams through the lean transport. So the gateway is not linked against
 * it; sy_curl_load() opens it (once, on the main thread, before the workers
 * start) when the config has a provider that needs it, and upstream.c calls
 * it through this table.
 */
#ifndef SY_UPSTREAM_CURL_DL_H
#define SY_UPSTREAM_CURL_DL_H

#include <curl/curl.h>

#include "core/err.h"

typedef struct sy_curl_api {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *h);
    void (*easy_reset)(CURL *h);
    CURLcode (*easy_pause)(CURL *h, int bitmask);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
    CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
    CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_cleanup)(CURLM *m);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} sy_curl_api_t;

/* Open libcurl and run curl_global_init. Idempotent. Main thread, before any
 * worker runs. Returns SY_OK, or SY_EUNSUPPORTED with err filled when the
 * library cannot be loaded. */
sy_err_t sy_curl_load(sy_error_t *err);

/* The table, or NULL when libcurl was not loaded. Any thread. */
const sy_curl_api_t *sy_curl(void);

/* curl_global_cleanup and close the library (at exit, after the workers). */
void sy_curl_unload(void);

#endif
