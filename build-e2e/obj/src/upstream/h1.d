build-e2e/obj/src/upstream/h1.o: src/upstream/h1.c src/upstream/h1.h \
 src/core/err.h
src/upstream/h1.h:
src/core/err.h:
