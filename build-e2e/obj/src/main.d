build-e2e/obj/src/main.o: src/main.c src/api/api.h src/http/request.h \
 src/core/arena.h src/core/err.h src/http/server.h src/config/config.h \
 src/telemetry/metrics.h src/pipeline/pipeline.h src/core/jsonscan.h \
 src/core/canon.h src/providers/discovery.h src/config/config.h \
 src/core/log.h src/http/server.h src/providers/discovery.h \
 src/cache/cache.h src/cache/memory.h src/pipeline/pipeline.h \
 src/dedup/table.h src/telemetry/metrics.h src/upstream/curl_dl.h \
 src/upstream/upstream.h
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
src/config/config.h:
src/core/log.h:
src/http/server.h:
src/providers/discovery.h:
src/cache/cache.h:
src/cache/memory.h:
src/pipeline/pipeline.h:
src/dedup/table.h:
src/telemetry/metrics.h:
src/upstream/curl_dl.h:
src/upstream/upstream.h:
