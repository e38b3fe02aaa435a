build-e2e/obj/src/http/request.o: src/http/request.c src/http/request.h \
 src/core/arena.h src/core/err.h src/http/server.h src/config/config.h \
 src/telemetry/metrics.h src/core/clock.h src/core/log.h
src/http/request.h:
src/core/arena.h:
src/core/err.h:
src/http/server.h:
src/config/config.h:
src/telemetry/metrics.h:
src/core/clock.h:
src/core/log.h:
