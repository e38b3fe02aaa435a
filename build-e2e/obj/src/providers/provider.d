build-e2e/obj/src/providers/provider.o: src/providers/provider.c \
 src/providers/provider.h src/config/config.h src/core/err.h \
 src/http/request.h src/core/arena.h src/http/server.h \
 src/telemetry/metrics.h
src/providers/provider.h:
src/config/config.h:
src/core/err.h:
src/http/request.h:
src/core/arena.h:
src/http/server.h:
src/telemetry/metrics.h:
