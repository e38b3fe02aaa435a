build-e2e/obj/src/upstream/curl_dl.o: src/upstream/curl_dl.c \
 src/upstream/curl_dl.h src/core/err.h
src/upstream/curl_dl.h:
src/core/err.h:
