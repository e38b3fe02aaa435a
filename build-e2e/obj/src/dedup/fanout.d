build-e2e/obj/src/dedup/fanout.o: src/dedup/fanout.c src/dedup/fanout.h \
 src/core/err.h
src/dedup/fanout.h:
src/core/err.h:
