build-e2e/obj/src/config/config.o: src/config/config.c \
 src/config/config.h
src/config/config.h:
