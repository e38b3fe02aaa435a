build-e2e/obj/src/cache/key.o: src/cache/key.c src/cache/key.h \
 src/core/canon.h src/core/arena.h src/core/err.h src/core/jsonscan.h \
 src/core/jcanon.h
src/cache/key.h:
src/core/canon.h:
src/core/arena.h:
src/core/err.h:
src/core/jsonscan.h:
src/core/jcanon.h:
