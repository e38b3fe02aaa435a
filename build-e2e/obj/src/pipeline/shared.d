build-e2e/obj/src/pipeline/shared.o: src/pipeline/shared.c \
 src/cache/cache.h src/cache/memory.h src/core/err.h src/config/config.h \
 src/cache/embed.h src/core/canon.h src/core/arena.h src/core/jsonscan.h \
 src/cache/entry.h src/cache/key.h src/core/jcanon.h src/cache/semantic.h \
 src/cache/sqlite.h src/core/clock.h src/core/log.h src/dedup/fanout.h \
 src/dedup/table.h src/pipeline/error.h src/http/request.h \
 src/http/server.h src/telemetry/metrics.h src/pipeline/internal.h \
 src/pipeline/pipeline.h src/router/router.h src/providers/discovery.h \
 src/providers/egress.h src/upstream/ndjson.h src/upstream/sse.h \
 src/providers/provider.h src/store/redis.h src/upstream/upstream.h
src/cache/cache.h:
src/cache/memory.h:
src/core/err.h:
src/config/config.h:
src/cache/embed.h:
src/core/canon.h:
src/core/arena.h:
src/core/jsonscan.h:
src/cache/entry.h:
src/cache/key.h:
src/core/jcanon.h:
src/cache/semantic.h:
src/cache/sqlite.h:
src/core/clock.h:
src/core/log.h:
src/dedup/fanout.h:
src/dedup/table.h:
src/pipeline/error.h:
src/http/request.h:
src/http/server.h:
src/telemetry/metrics.h:
src/pipeline/internal.h:
src/pipeline/pipeline.h:
src/router/router.h:
src/providers/discovery.h:
src/providers/egress.h:
src/upstream/ndjson.h:
src/upstream/sse.h:
src/providers/provider.h:
src/store/redis.h:
src/upstream/upstream.h:
