/* stream_service: meshapp's raw TCP integrity service (--stream-port).
 *
 * The first line a client sends picks the behaviour:
 *   ECHO\n                                  echo every byte until the client
 *                                           half-closes, then shut down and close
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
 */
#ifndef MESHCUT_TESTS_STREAM_SERVICE_H
#define MESHCUT_TESTS_STREAM_SERVICE_H

#define STREAM_MAX_MSG (64u << 20)

/* Serve one accepted connection to the end, then close fd. */
void stream_service_serve(int fd);

#endif
