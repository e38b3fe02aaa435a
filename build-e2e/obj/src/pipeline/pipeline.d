build-e2e/obj/src/pipeline/pipeline.o: src/pipeline/pipeline.c \
 src/pipeline/pipeline.h src/core/jsonscan.h src/http/request.h \
 src/core/arena.h src/core/err.h src/http/server.h src/config/config.h \
 src/telemetry/metrics.h src/core/canon.h src/core/clock.h src/core/log.h \
 src/pipeline/error.h src/pipeline/internal.h src/router/router.h \
 src/providers/discovery.h src/providers/egress.h src/upstream/ndjson.h \
 src/upstream/sse.h src/providers/provider.h src/upstream/upstream.h
src/pipeline/pipeline.h:
src/core/jsonscan.h:
src/http/request.h:
src/core/arena.h:
src/core/err.h:
src/http/server.h:
src/config/config.h:
src/telemetry/metrics.h:
src/core/canon.h:
src/core/clock.h:
src/core/log.h:
src/pipeline/error.h:
src/pipeline/internal.h:
src/router/router.h:
src/providers/discovery.h:
src/providers/egress.h:
src/upstream/ndjson.h:
src/upstream/sse.h:
src/providers/provider.h:
src/upstream/upstream.h:
