build-e2e/obj/src/providers/ollama.o: src/providers/ollama.c \
 src/core/jsonscan.h src/core/jsonw.h src/providers/egress.h \
 src/config/config.h src/core/arena.h src/core/err.h src/core/canon.h \
 src/upstream/ndjson.h src/upstream/sse.h
src/core/jsonscan.h:
src/core/jsonw.h:
src/providers/egress.h:
src/config/config.h:
src/core/arena.h:
src/core/err.h:
src/core/canon.h:
src/upstream/ndjson.h:
src/upstream/sse.h:
