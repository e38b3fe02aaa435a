build-e2e/obj/src/cache/cache.o: src/cache/cache.c src/cache/cache.h \
 src/cache/memory.h src/core/err.h src/config/config.h src/core/clock.h
src/cache/cache.h:
src/cache/memory.h:
src/core/err.h:
src/config/config.h:
src/core/clock.h:
