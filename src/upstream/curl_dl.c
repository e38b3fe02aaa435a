/*
 * curl_dl.c - load libcurl on demand (see curl_dl.h).
 *
 * The table is written once by the main thread before worker threads are
 * created and only read afterwards; thread creation orders the two.
 */
#include "upstream/curl_dl.h"

#include <dlfcn.h>
#include <stddef.h>

static sy_curl_api_t api;
static const sy_curl_api_t *loaded;
static void *lib;

#define SY__CURL_SYMS(X)                                                                              \
    X(global_init, "curl_global_init")                                                             \
    X(global_cleanup, "curl_global_cleanup")                                                       \
    X(easy_init, "curl_easy_init")                                                                 \
    X(easy_setopt, "curl_easy_setopt")                                                             \
    X(easy_getinfo, "curl_easy_getinfo")                                                           \
    X(easy_cleanup, "curl_easy_cleanup")                                                           \
    X(easy_reset, "curl_easy_reset")                                                               \
    X(easy_pause, "curl_easy_pause")                                                               \
    X(easy_strerror, "curl_easy_strerror")                                                         \
    X(multi_init, "curl_multi_init")                                                               \
    X(multi_setopt, "curl_multi_setopt")                                                           \
    X(multi_assign, "curl_multi_assign")                                                           \
    X(multi_socket_action, "curl_multi_socket_action")                                             \
    X(multi_info_read, "curl_multi_info_read")                                                     \
    X(multi_add_handle, "curl_multi_add_handle")                                                   \
    X(multi_remove_handle, "curl_multi_remove_handle")                                             \
    X(multi_cleanup, "curl_multi_cleanup")                                                         \
    X(slist_append, "curl_slist_append")                                                           \
    X(slist_free_all, "curl_slist_free_all")

sy_err_t sy_curl_load(sy_error_t *err)
{
    if (loaded)
        return SY_OK;
    lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        sy_error_set(err, SY_EUNSUPPORTED, NULL, "cannot load libcurl (needed for TLS, proxies and host names): %s",
                     dlerror());
        return SY_EUNSUPPORTED;
    }
#define SY__CURL_LOAD(field, name)                                                                   \
    *(void **)&api.field = dlsym(lib, name);                                                       \
    if (!api.field) {                                                                              \
        sy_error_set(err, SY_EUNSUPPORTED, NULL, "libcurl lacks %s", name);                        \
        goto fail;                                                                                 \
    }
    SY__CURL_SYMS(SY__CURL_LOAD)
#undef SY__CURL_LOAD
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        sy_error_set(err, SY_EUNSUPPORTED, NULL, "curl_global_init failed");
        goto fail;
    }
    loaded = &api;
    return SY_OK;
fail:
    dlclose(lib);
    lib = NULL;
    return SY_EUNSUPPORTED;
}

const sy_curl_api_t *sy_curl(void)
{
    return loaded;
}

void sy_curl_unload(void)
{
    if (!loaded)
        return;
    api.global_cleanup();
    loaded = NULL;
    /* the library stays mapped: its atexit handlers and TLS keys may still
     * point into it */
}
