/*
 * feedback.c - POST /v1/feedback, and the count of an A/B experiment's
 * requests on their arms (router/experiment.h).
 *
 *   POST /v1/feedback {"request_id": "req_...", "score": 1}
 *   200 {"request_id":"req_...","experiment":"local-vs-cloud","arm":"local",
 *        "score":1,"replaced":false,"recorded":true}
 *
 * The request id is the x-request-id a response of the experiment carried;
 * the score any finite number in [-1e9, 1e9] (a rating, a thumbs up as 1,
 * a reward). A second score for the same request replaces the first. An id
 * the gateway does not remember - never in an experiment, still running,
 * or older than the last SY_EXP_REMEMBER assignments - is a 404. Errors are
 * OpenAI's shape. docs/api.md and docs/routing.md describe it for users.
 */
#include <event2/buffer.h>
#include <math.h>
#include <string.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "pipeline/error.h"
#include "router/experiment.h"

#define FEEDBACK_MAX_BODY 65536
#define FEEDBACK_MAX_SCORE 1e9

void sy_api_feedback(sy_req_t *r)
{
    sy_server_t *srv = r->w->srv;
    struct evbuffer *b = sy_req_body(r);
    sy_jval_t doc, idv, scv;
    if (b && evbuffer_get_length(b) > FEEDBACK_MAX_BODY) {
        sy_respond_errorf(r, SY_ETOOLARGE, NULL, "a feedback body is at most %d bytes", FEEDBACK_MAX_BODY);
        return;
    }
    if (sy__api_read_object(r, "the request body is empty; expected {\"request_id\": \"...\", \"score\": number}",
                            &doc) < 0)
        return;
    char id[SY_EXP_ID_MAX + 1];
    double score;
    if (!sy_json_get(&doc, "request_id", &idv)) {
        sy_respond_errorf(r, SY_EMISSING, "request_id", "missing required parameter: request_id");
        return;
    }
    if (idv.type != SY_JSTRING) {
        sy_respond_errorf(r, SY_EBADFIELD, "request_id", "request_id must be a string, not %s",
                          sy_jtype_name(idv.type));
        return;
    }
    long idn = sy_json_string(&idv, id, sizeof(id));
    if (idn == 0) {
        sy_respond_errorf(r, SY_EBADFIELD, "request_id", "request_id must not be empty");
        return;
    }
    if (idn < 0 || memchr(id, '\0', (size_t)idn)) {
        sy_respond_errorf(r, SY_EBADFIELD, "request_id", "request_id is not a request id (at most %d bytes, no NUL)",
                          SY_EXP_ID_MAX);
        return;
    }
    if (!sy_json_get(&doc, "score", &scv)) {
        sy_respond_errorf(r, SY_EMISSING, "score", "missing required parameter: score");
        return;
    }
    if ((scv.type != SY_JINT && scv.type != SY_JDOUBLE) || sy_json_double(&scv, &score) < 0) {
        sy_respond_errorf(r, SY_EBADFIELD, "score", "score must be a number, not %s", sy_jtype_name(scv.type));
        return;
    }
    if (!isfinite(score) || fabs(score) > FEEDBACK_MAX_SCORE) {
        sy_respond_errorf(r, SY_EBADFIELD, "score", "score must be between -1e9 and 1e9");
        return;
    }
    if (!srv->exp || srv->cfg->n_experiments == 0) {
        sy_respond_errorf(r, SY_ENOTFOUND, "request_id",
                          "no A/B experiment is configured (router.experiments), so no request takes feedback");
        return;
    }
    int exp, arm, replaced;
    if (sy_exp_feedback(srv->exp, id, score, &exp, &arm, &replaced) < 0) {
        sy_respond_errorf(r, SY_ENOTFOUND, "request_id",
                          "request %.63s is not known to an A/B experiment: it was not part of one, has not "
                          "finished yet, or is older than the last %d remembered",
                          id, SY_EXP_REMEMBER);
        return;
    }
    const sy_exp_conf_t *e = &srv->cfg->experiments[exp];
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    SY_JW_LIT(out, "{\"request_id\":");
    sy_jw_str(out, id, (size_t)idn);
    SY_JW_LIT(out, ",\"experiment\":");
    sy_jw_cstr(out, e->name);
    SY_JW_LIT(out, ",\"arm\":");
    sy_jw_cstr(out, e->arms[arm].name);
    SY_JW_LIT(out, ",\"score\":");
    sy_jw_double(out, score);
    if (replaced)
        SY_JW_LIT(out, ",\"replaced\":true,\"recorded\":true}");
    else
        SY_JW_LIT(out, ",\"replaced\":false,\"recorded\":true}");
    sy_req_reply_buf(r, 200, "application/json", out);
    evbuffer_free(out);
}

void sy_api_experiment_done(sy_req_t *r)
{
    sy_server_t *srv = r->w->srv;
    if (!srv->exp)
        return;
    int status = r->client_gone && !r->status ? 499 : r->status;
    sy_exp_outcome_t o = {
        .error = status >= 400 || status == 0,
        .latency_ns = sy_now_ns() - r->start_ns,
        .ttft_ns = r->first_byte_ns ? (int64_t)(r->first_byte_ns - r->start_ns) : -1,
        .prompt_tokens = r->prompt_tokens,
        .completion_tokens = r->completion_tokens,
        /* nothing sent upstream (a cache hit, a refusal) costs nothing */
        .cost_usd = r->attempts == 0 ? 0
                                     : sy_exp_cost(srv->cfg, r->fallback, r->model, r->provider, r->deployment,
                                                   r->prompt_tokens, r->completion_tokens),
    };
    sy_exp_record(srv->exp, r->exp, r->arm, &o);
    sy_exp_remember(srv->exp, r->id, r->exp, r->arm);
}
