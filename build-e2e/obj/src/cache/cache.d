build-e2e/obj/src/cache/cache.o: src/cache/cache.c src/cache/cache.h \
 src/cache/memory.h src/core/err.h src/config/config.h src/cache/embed.h \
 src/core/canon.h src/core/arena.h src/core/jsonscan.h src/cache/key.h \
 src/core/jcanon.h src/cache/semantic.h src/cache/sqlite.h \
 src/core/clock.h src/core/log.h src/store/redis.h
src/cache/cache.h:
src/cache/memory.h:
src/core/err.h:
src/config/config.h:
src/cache/embed.h:
src/core/canon.h:
src/core/arena.h:
src/core/jsonscan.h:
src/cache/key.h:
src/core/jcanon.h:
src/cache/semantic.h:
src/cache/sqlite.h:
src/core/clock.h:
src/core/log.h:
src/store/redis.h:
