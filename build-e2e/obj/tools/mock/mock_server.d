build-e2e/obj/tools/mock/mock_server.o: tools/mock/mock_server.c \
 tools/mock/mock.h
tools/mock/mock.h:
