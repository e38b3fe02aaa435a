build-e2e/obj/src/cache/memory.o: src/cache/memory.c src/cache/memory.h \
 src/core/err.h
src/cache/memory.h:
src/core/err.h:
