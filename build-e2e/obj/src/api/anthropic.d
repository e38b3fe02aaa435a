build-e2e/obj/src/api/anthropic.o: src/api/anthropic.c src/api/api.h \
 src/http/request.h src/core/arena.h src/core/err.h src/http/server.h \
 src/config/config.h src/telemetry/metrics.h src/pipeline/pipeline.h \
 src/core/jsonscan.h src/core/canon.h src/providers/discovery.h \
 src/core/jsonw.h src/core/log.h src/pipeline/error.h src/router/router.h
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
src/core/jsonw.h:
src/core/log.h:
src/pipeline/error.h:
src/router/router.h:
