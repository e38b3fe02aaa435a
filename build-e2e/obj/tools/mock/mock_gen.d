build-e2e/obj/tools/mock/mock_gen.o: tools/mock/mock_gen.c \
 tools/mock/mock.h
tools/mock/mock.h:
