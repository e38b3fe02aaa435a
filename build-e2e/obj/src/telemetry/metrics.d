build-e2e/obj/src/telemetry/metrics.o: src/telemetry/metrics.c \
 src/telemetry/metrics.h
src/telemetry/metrics.h:
