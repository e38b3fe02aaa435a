build-e2e/obj/src/core/jsonw.o: src/core/jsonw.c src/core/jsonw.h
src/core/jsonw.h:
