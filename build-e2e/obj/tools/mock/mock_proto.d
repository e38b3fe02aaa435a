build-e2e/obj/tools/mock/mock_proto.o: tools/mock/mock_proto.c \
 tools/mock/mock.h
tools/mock/mock.h:
