build-e2e/obj/tools/mock/mock.o: tools/mock/mock.c tools/mock/mock.h
tools/mock/mock.h:
