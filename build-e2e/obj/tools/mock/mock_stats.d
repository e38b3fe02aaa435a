build-e2e/obj/tools/mock/mock_stats.o: tools/mock/mock_stats.c \
 tools/mock/mock.h
tools/mock/mock.h:
