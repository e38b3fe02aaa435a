build-e2e/obj/src/dedup/table.o: src/dedup/table.c src/dedup/table.h
src/dedup/table.h:
