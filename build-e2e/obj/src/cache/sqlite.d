build-e2e/obj/src/cache/sqlite.o: src/cache/sqlite.c src/cache/sqlite.h \
 src/cache/memory.h src/core/err.h src/cache/embed.h src/core/canon.h \
 src/core/arena.h src/core/jsonscan.h src/core/log.h
src/cache/sqlite.h:
src/cache/memory.h:
src/core/err.h:
src/cache/embed.h:
src/core/canon.h:
src/core/arena.h:
src/core/jsonscan.h:
src/core/log.h:
