build-e2e/obj/src/cache/semantic.o: src/cache/semantic.c \
 src/cache/semantic.h src/cache/embed.h src/core/canon.h src/core/arena.h \
 src/core/err.h src/core/jsonscan.h
src/cache/semantic.h:
src/cache/embed.h:
src/core/canon.h:
src/core/arena.h:
src/core/err.h:
src/core/jsonscan.h:
