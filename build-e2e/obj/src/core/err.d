build-e2e/obj/src/core/err.o: src/core/err.c src/core/err.h \
 src/core/log.h
src/core/err.h:
src/core/log.h:
