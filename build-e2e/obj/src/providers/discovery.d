build-e2e/obj/src/providers/discovery.o: src/providers/discovery.c \
 src/providers/discovery.h src/config/config.h src/core/err.h \
 src/core/jsonscan.h src/core/log.h src/http/server.h \
 src/telemetry/metrics.h src/upstream/upstream.h
src/providers/discovery.h:
src/config/config.h:
src/core/err.h:
src/core/jsonscan.h:
src/core/log.h:
src/http/server.h:
src/telemetry/metrics.h:
src/upstream/upstream.h:
