build-e2e/obj/src/api/health.o: src/api/health.c src/api/api.h \
 src/http/request.h src/core/arena.h src/core/err.h src/http/server.h \
 src/config/config.h src/telemetry/metrics.h src/pipeline/pipeline.h \
 src/core/jsonscan.h src/core/canon.h src/providers/discovery.h \
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
src/pipeline/error.h:
