-- bench/chat.lua - the request wrk sends in `make bench`.
--
-- One realistic non-streaming OpenAI chat request (~1.2 KB: a system prompt
-- and a user message), POSTed on every call. The model comes from the
-- SY_BENCH_MODEL environment variable: "bench" (switchyard's public name) by
-- default, "mock-small" when wrk talks to sy-mock directly or through nginx,
-- which forward the body untouched. No response() hook: wrk already counts
-- non-2xx answers, and a hook would make wrk buffer every body.

local model = os.getenv("SY_BENCH_MODEL") or "bench"

local system_prompt = "You are a careful assistant for an engineering team that runs a fleet of "
  .. "services. Answer concisely, cite the configuration keys you rely on, and say so plainly "
  .. "when you are unsure. Prefer short code samples over long prose. When a question is about "
  .. "production incidents, list the checks to run first, in order, and the signal each one "
  .. "gives. Never invent command-line flags, and mention the version a feature appeared in "
  .. "when it matters."

local user_message = "Our gateway started returning 502 errors for about two percent of "
  .. "chat requests after we moved the upstream pool behind a new load balancer. Streaming "
  .. "requests fail more often than non-streaming ones, and the failures cluster a minute "
  .. "after a quiet period. The balancer has an idle timeout of sixty seconds and our clients "
  .. "keep connections open between requests. What would you check first, which timeouts "
  .. "should line up with each other so that long streams and idle keep-alive connections "
  .. "both behave, and how would you confirm the fix without waiting for the next incident "
  .. "in production? Please keep the answer under two hundred words."

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"' .. model .. '","temperature":0.2,"max_tokens":256,'
  .. '"messages":[{"role":"system","content":"' .. system_prompt .. '"},'
  .. '{"role":"user","content":"' .. user_message .. '"}]}'
