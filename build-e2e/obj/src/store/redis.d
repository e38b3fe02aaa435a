build-e2e/obj/src/store/redis.o: src/store/redis.c src/store/redis.h \
 src/core/err.h /usr/include/hiredis/async.h \
 /usr/include/hiredis/hiredis.h /usr/include/hiredis/read.h \
 /usr/include/hiredis/sds.h /usr/include/hiredis/alloc.h \
 /usr/include/hiredis/hiredis.h /usr/include/hiredis/adapters/libevent.h \
 /usr/include/hiredis/adapters/../hiredis.h \
 /usr/include/hiredis/adapters/../async.h src/core/clock.h src/core/log.h
src/store/redis.h:
src/core/err.h:
/usr/include/hiredis/async.h:
/usr/include/hiredis/hiredis.h:
/usr/include/hiredis/read.h:
/usr/include/hiredis/sds.h:
/usr/include/hiredis/alloc.h:
/usr/include/hiredis/hiredis.h:
/usr/include/hiredis/adapters/libevent.h:
/usr/include/hiredis/adapters/../hiredis.h:
/usr/include/hiredis/adapters/../async.h:
src/core/clock.h:
src/core/log.h:
