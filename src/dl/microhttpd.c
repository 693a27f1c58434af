/* microhttpd.c – libmicrohttpd, opened when the metrics endpoint (metrics.listen) starts:
 * the functions src/metrics.c calls, forwarded (see lazylib.c). */
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "pktlog/dl.h"
#include "lazylib.h"

#define FUNCS(X)                                \
	X(MHD_start_daemon_va)                  \
	X(MHD_stop_daemon)                      \
	X(MHD_get_daemon_info)                  \
	X(MHD_create_response_from_buffer)      \
	X(MHD_add_response_header)              \
	X(MHD_queue_response)                   \
	X(MHD_destroy_response)

PL_DL_TABLE(lib, "the metrics endpoint (metrics.listen)", FUNCS);

bool pl_dl_microhttpd(char *err, size_t cap)
{
	return pl_lazylib_load(&lib, err, cap);
}

#define CALL(f) PL_DL_CALL(lib, f)

/* Variadic: the library's own MHD_start_daemon is va_start plus its va_list twin. */
struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
				    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	struct MHD_Daemon *d;
	va_list ap;

	va_start(ap, dh_cls);
	d = CALL(MHD_start_daemon_va)(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
	CALL(MHD_stop_daemon)(daemon);
}

/* Variadic, but microhttpd.h says of every info type "No extra arguments should be
 * passed": the fixed arguments are all there is to forward. */
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *daemon,
						enum MHD_DaemonInfoType info_type, ...)
{
	return CALL(MHD_get_daemon_info)(daemon, info_type);
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
						     enum MHD_ResponseMemoryMode mode)
{
	return CALL(MHD_create_response_from_buffer)(size, buffer, mode);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header,
					const char *content)
{
	return CALL(MHD_add_response_header)(response, header, content);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
				   struct MHD_Response *response)
{
	return CALL(MHD_queue_response)(connection, status_code, response);
}

void MHD_destroy_response(struct MHD_Response *response)
{
	CALL(MHD_destroy_response)(response);
}
