build-e2e/obj/src/upstream/sse.o: src/upstream/sse.c src/upstream/sse.h \
 src/core/err.h
src/upstream/sse.h:
src/core/err.h:
