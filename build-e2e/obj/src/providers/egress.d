build-e2e/obj/src/providers/egress.o: src/providers/egress.c \
 src/providers/egress.h src/config/config.h src/core/arena.h \
 src/core/err.h src/core/canon.h src/core/jsonscan.h \
 src/upstream/ndjson.h src/upstream/sse.h
src/providers/egress.h:
src/config/config.h:
src/core/arena.h:
src/core/err.h:
src/core/canon.h:
src/core/jsonscan.h:
src/upstream/ndjson.h:
src/upstream/sse.h:
