build-e2e/obj/src/upstream/ndjson.o: src/upstream/ndjson.c \
 src/upstream/ndjson.h src/core/err.h
src/upstream/ndjson.h:
src/core/err.h:
