build-e2e/obj/src/api/stats.o: src/api/stats.c src/api/api.h \
 src/http/request.h src/core/arena.h src/core/err.h src/http/server.h \
 src/config/config.h src/telemetry/metrics.h src/pipeline/pipeline.h \
 src/core/jsonscan.h src/core/canon.h src/providers/discovery.h \
 src/cache/cache.h src/cache/memory.h src/dedup/table.h \
 src/pipeline/error.h
src/api/api.h:
src/http/request.h:
src/core/arena.h:
src/core/err.h:
src/http/server.h:
src/config/config.h:
src/telemetry/metrics.h:
src/pipeline/pipeline.h:
src/core/jsonscan.h:
src/core/canon.h:
src/providers/discovery.h:
src/cache/cache.h:
src/cache/memory.h:
src/dedup/table.h:
src/pipeline/error.h:
