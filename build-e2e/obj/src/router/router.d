build-e2e/obj/src/router/router.o: src/router/router.c \
 src/router/router.h src/config/config.h src/core/err.h \
 src/providers/discovery.h
src/router/router.h:
src/config/config.h:
src/core/err.h:
src/providers/discovery.h:
