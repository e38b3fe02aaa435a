build-e2e/obj/src/cache/entry.o: src/cache/entry.c src/cache/entry.h \
 src/core/canon.h src/core/arena.h src/core/err.h src/core/jsonscan.h \
 src/core/jsonw.h
src/cache/entry.h:
src/core/canon.h:
src/core/arena.h:
src/core/err.h:
src/core/jsonscan.h:
src/core/jsonw.h:
