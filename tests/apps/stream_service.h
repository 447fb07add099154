/* stream_service: meshapp's raw TCP integrity service (--stream-port).
 *
 * The first line a client sends picks the behaviour:
 *   ECHO\n                                  echo every byte until the client
 *                                           half-closes, then shut down and close
 *   ECHO STRICT\n                           the same, but an EAGAIN from a
 *                                           blocking read() is an error (see below)
 *   SINK <nbytes> <seed>\n                  read nbytes, check them against
 *                                           stream_data(seed), answer
 *                                           "OK <sha256hex>\n" or "BAD <offset>\n"
 *   SOURCE <seed> <nbytes> <min> <max> <sizeseed>\n
 *                                           send nbytes of stream_data(seed) in
 *                                           write()s of sizes uniform in [min,max]
 *                                           then shut down, close at client EOF
 *   RR <size>\n                             read size bytes, write them back,
 *                                           until EOF
 * A malformed line gets "ERR <reason>\n". Sizes are capped at STREAM_MAX_MSG.
 *
 * Reads are blocking. tcp_bpf's recv() returns EAGAIN to a blocked reader
 * woken without data (docs/semantics.md); like an event loop, the service
 * waits for the socket and reads again, except under ECHO STRICT, which plays
 * a naive app that takes EAGAIN for an error and closes (tests/stress/leave-chaos
 * measures how often that happens).
 */
#ifndef MESHCUT_TESTS_STREAM_SERVICE_H
#define MESHCUT_TESTS_STREAM_SERVICE_H

#define STREAM_MAX_MSG (64u << 20)

/* Serve one accepted connection to the end, then close fd. */
void stream_service_serve(int fd);

#endif
