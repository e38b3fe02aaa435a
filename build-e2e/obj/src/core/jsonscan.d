build-e2e/obj/src/core/jsonscan.o: src/core/jsonscan.c \
 src/core/jsonscan.h
src/core/jsonscan.h:
