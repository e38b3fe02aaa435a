-- bench/translated.lua - the requests wrk sends on the translated paths in `make bench`.
--
-- The conversation of bench/chat.lua (its system prompt and user message,
-- taken from the body chat.lua builds, so the paths cannot drift apart) in
-- the shape of another API, non-streaming, so that the gateway's OpenAI
-- upstream does the same work whichever API the client speaks:
--   SY_BENCH_PROTO=ollama     POST /api/chat, "stream": false, options
--   SY_BENCH_PROTO=anthropic  POST /v1/messages, top-level system, max_tokens
-- The model comes from SY_BENCH_MODEL as in chat.lua. No response() hook, for
-- the same reason: wrk counts non-2xx answers by itself.

local proto = os.getenv("SY_BENCH_PROTO") or "ollama"

-- chat.lua sits beside this file; wrk loads scripts by path, so the chunk
-- name is "@<path of this file>"
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "chat.lua")

local model = wrk.body:match('^{"model":"([^"]*)"')
local system_prompt = wrk.body:match('"role":"system","content":"([^"]*)"')
local user_message = wrk.body:match('"role":"user","content":"([^"]*)"')
if not (model and system_prompt and user_message) then
  error("translated.lua: could not take the conversation from chat.lua's body")
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if proto == "ollama" then
  wrk.headers["Authorization"] = nil
  wrk.body = '{"model":"' .. model .. '","stream":false,'
    .. '"options":{"temperature":0.2,"num_predict":256},'
    .. '"messages":[{"role":"system","content":"' .. system_prompt .. '"},'
    .. '{"role":"user","content":"' .. user_message .. '"}]}'
elseif proto == "anthropic" then
  wrk.headers["Authorization"] = nil
  wrk.headers["x-api-key"] = "sk-bench"
  wrk.headers["anthropic-version"] = "2023-06-01"
  wrk.body = '{"model":"' .. model .. '","max_tokens":256,"temperature":0.2,'
    .. '"system":"' .. system_prompt .. '",'
    .. '"messages":[{"role":"user","content":"' .. user_message .. '"}]}'
else
  error("translated.lua: SY_BENCH_PROTO must be ollama or anthropic, not " .. proto)
end
