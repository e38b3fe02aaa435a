build-e2e/obj/src/cache/embed.o: src/cache/embed.c src/cache/embed.h \
 src/core/canon.h src/core/arena.h src/core/err.h src/core/jsonscan.h
src/cache/embed.h:
src/core/canon.h:
src/core/arena.h:
src/core/err.h:
src/core/jsonscan.h:
