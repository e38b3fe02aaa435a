build-e2e/obj/src/http/server.o: src/http/server.c src/http/server.h \
 src/config/config.h src/core/err.h src/telemetry/metrics.h \
 src/core/log.h src/http/request.h src/core/arena.h \
 src/upstream/upstream.h
src/http/server.h:
src/config/config.h:
src/core/err.h:
src/telemetry/metrics.h:
src/core/log.h:
src/http/request.h:
src/core/arena.h:
src/upstream/upstream.h:
