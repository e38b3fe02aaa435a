build-e2e/obj/src/pipeline/error.o: src/pipeline/error.c \
 src/pipeline/error.h src/core/err.h src/http/request.h src/core/arena.h \
 src/http/server.h src/config/config.h src/telemetry/metrics.h \
 src/core/log.h src/core/canon.h src/core/jsonscan.h
src/pipeline/error.h:
src/core/err.h:
src/http/request.h:
src/core/arena.h:
src/http/server.h:
src/config/config.h:
src/telemetry/metrics.h:
src/core/log.h:
src/core/canon.h:
src/core/jsonscan.h:
