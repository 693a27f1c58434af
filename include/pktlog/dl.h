/* dl.h – the optional libraries, loaded (dlopen) only when a feature that needs one starts.
 *
 * pktlog does not link librdkafka, libmicrohttpd, libsqlite3 or libbpf: src/dl/ defines the
 * functions pktlog calls from them and opens the library on first use, so a run that uses
 * none of these features maps none of them (nor OpenSSL, GnuTLS, libelf... behind them).
 * Each feature calls its pl_dl_*() where it starts, so that a missing library is reported
 * there; a library function called without that loads its library on the spot, and aborts
 * after logging if it cannot.
 *
 * Each returns true once the library is loaded (at once after the first success; thread-
 * safe). False: err holds "<feature> needs <soname>: <reason>", and a later call tries again. */
#ifndef PKTLOG_DL_H
#define PKTLOG_DL_H

#include "pktlog/common.h"

bool pl_dl_rdkafka(char *err, size_t cap);     /* the Kafka output, output.kafka.properties */
bool pl_dl_microhttpd(char *err, size_t cap);  /* the metrics endpoint (metrics.listen) */
bool pl_dl_sqlite3(char *err, size_t cap);     /* the tailer's registry (DIR/tail.db) */
bool pl_dl_bpf(char *err, size_t cap);         /* the eBPF pre-filter (live capture) */

#endif
