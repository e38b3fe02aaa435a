build-e2e/obj/src/core/jcanon.o: src/core/jcanon.c src/core/jcanon.h \
 src/core/err.h src/core/jsonscan.h
src/core/jcanon.h:
src/core/err.h:
src/core/jsonscan.h:
