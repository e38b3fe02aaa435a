/*
 * pipeline_test.c - usage figures read from an upstream's answer or stream
 * chunk (what the log line and the token metrics report).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "pipeline/pipeline.h"

static void take(sy_req_t *r, const char *json)
{
    size_t n = strlen(json);
    cr_assert_eq(sy_json_validate(json, n, NULL, NULL), 0, "%s", json);
    sy_jval_t v = sy_json_value(json, n);
    sy_pipeline_take_usage(r, &v);
}

Test(pipeline_usage, response_object)
{
    sy_req_t r;
    memset(&r, 0, sizeof(r));
    take(&r, "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"\\\"usage\\\" in text\"}}],"
             "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46}}");
    cr_assert_eq(r.prompt_tokens, 12);
    cr_assert_eq(r.completion_tokens, 34);
}

Test(pipeline_usage, final_stream_chunk)
{
    sy_req_t r;
    memset(&r, 0, sizeof(r));
    take(&r, "{\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5}}");
    cr_assert_eq(r.prompt_tokens, 3);
    cr_assert_eq(r.completion_tokens, 5);
}

Test(pipeline_usage, null_or_absent_usage_leaves_counts)
{
    sy_req_t r;
    memset(&r, 0, sizeof(r));
    r.prompt_tokens = 7;
    r.completion_tokens = 8;
    take(&r, "{\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}");
    take(&r, "{\"choices\":[]}");
    take(&r, "{\"usage\":{\"prompt_tokens\":\"9\",\"completion_tokens\":1.5}}");
    cr_assert_eq(r.prompt_tokens, 7, "a string is not a count");
    cr_assert_eq(r.completion_tokens, 8, "a fraction is not a count");
}

Test(pipeline_usage, embeddings_have_prompt_tokens_only)
{
    sy_req_t r;
    memset(&r, 0, sizeof(r));
    take(&r, "{\"object\":\"list\",\"data\":[],\"usage\":{\"prompt_tokens\":4,\"total_tokens\":4}}");
    cr_assert_eq(r.prompt_tokens, 4);
    cr_assert_eq(r.completion_tokens, 0);
}
