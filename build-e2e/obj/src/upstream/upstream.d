build-e2e/obj/src/upstream/upstream.o: src/upstream/upstream.c \
 src/upstream/upstream.h src/config/config.h src/core/err.h \
 src/core/clock.h src/upstream/curl_dl.h src/upstream/h1.h
src/upstream/upstream.h:
src/config/config.h:
src/core/err.h:
src/core/clock.h:
src/upstream/curl_dl.h:
src/upstream/h1.h:
