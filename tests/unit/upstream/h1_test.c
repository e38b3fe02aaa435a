/*
 * h1_test.c - which upstream URLs the lean HTTP/1.1 transport takes, and how
 * it addresses them. The transport itself is exercised end to end (the e2e
 * suite runs once on it and once on libcurl).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "upstream/h1.h"

Test(h1_target, ipv4_with_port_and_path)
{
    sy_h1_target_t t;
    cr_assert_eq(sy__h1_target("http://127.0.0.1:8080/v1/chat/completions", &t), 0);
    cr_assert_str_eq(t.hostport, "127.0.0.1:8080");
    cr_assert_str_eq(t.path, "/v1/chat/completions");
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&t.addr;
    cr_assert_eq(s4->sin_family, AF_INET);
    cr_assert_eq(ntohs(s4->sin_port), 8080);
    cr_assert_eq(t.addrlen, sizeof(struct sockaddr_in));
}

Test(h1_target, default_port_and_root_path)
{
    sy_h1_target_t t;
    cr_assert_eq(sy__h1_target("http://10.0.0.7", &t), 0);
    cr_assert_str_eq(t.hostport, "10.0.0.7:80");
    cr_assert_str_eq(t.path, "/");
    cr_assert_eq(sy__h1_target("HTTP://10.0.0.7?x=1", &t), 0);
    cr_assert_str_eq(t.path, "/");
}

Test(h1_target, ipv6_literal)
{
    sy_h1_target_t t;
    cr_assert_eq(sy__h1_target("http://[::1]:11434/api/chat", &t), 0);
    cr_assert_str_eq(t.hostport, "[::1]:11434");
    cr_assert_str_eq(t.path, "/api/chat");
    cr_assert_eq(((const struct sockaddr_in6 *)&t.addr)->sin6_family, AF_INET6);
}

Test(h1_target, localhost_is_loopback)
{
    sy_h1_target_t t;
    cr_assert_eq(sy__h1_target("http://localhost:11434/v1", &t), 0);
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&t.addr;
    cr_assert_eq(ntohl(s4->sin_addr.s_addr), INADDR_LOOPBACK);
    cr_assert_str_eq(t.hostport, "localhost:11434");
}

Test(h1_target, left_to_libcurl)
{
    sy_h1_target_t t;
    const char *curl_only[] = {
        "https://127.0.0.1/v1",          /* TLS */
        "http://api.example.com/v1",     /* a name: needs a resolver */
        "http://user:pw@127.0.0.1/v1",   /* credentials in the URL */
        "http://127.0.0.1:0/v1",         /* port out of range */
        "http://127.0.0.1:70000/v1",
        "http://127.0.0.1:80x/v1",
        "http://[::1/v1",                /* unclosed bracket */
        "ftp://127.0.0.1/",
        "http:///v1",
    };
    for (size_t i = 0; i < sizeof(curl_only) / sizeof(curl_only[0]); i++)
        cr_expect_eq(sy__h1_target(curl_only[i], &t), -1, "%s", curl_only[i]);
}
