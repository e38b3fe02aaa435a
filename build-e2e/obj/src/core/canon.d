build-e2e/obj/src/core/canon.o: src/core/canon.c src/core/canon.h \
 src/core/arena.h src/core/err.h src/core/jsonscan.h
src/core/canon.h:
src/core/arena.h:
src/core/err.h:
src/core/jsonscan.h:
