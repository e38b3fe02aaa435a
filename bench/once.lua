-- bench/once.lua - one request of bench/chat.lua, to warm a cache in `make bench`.
--
-- Sends the body chat.lua builds (model from SY_BENCH_MODEL) once, prints
-- "STATUS CACHE" (the HTTP status and the x-switchyard-cache header, "-" when
-- there is none) and stops sending: run it as `wrk -t1 -c1 -d1s -s
-- bench/once.lua URL`. With SY_BENCH_BODY_OUT=FILE it also writes the body to
-- FILE, so that later single requests (curl --data-binary @FILE) are byte for
-- byte the ones the wrk runs send, and hit the same cache entry.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "chat.lua")

local out = os.getenv("SY_BENCH_BODY_OUT")
if out and out ~= "" then
  local f = assert(io.open(out, "wb"))
  f:write(wrk.body)
  f:close()
end

local answered = false

function response(status, headers, body)
  if not answered then
    answered = true
    io.write(string.format("%d %s\n", status, headers["x-switchyard-cache"] or "-"))
  end
  wrk.thread:stop()
end
