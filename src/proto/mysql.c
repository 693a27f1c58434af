/* mysql.c – MySQL/MariaDB client/server protocol → transactions (placeholder until the
 * protocol module lands: connections on MySQL ports are accepted and ignored). */
#include "pktlog/proto.h"

static size_t mysql_state_size(const struct pl_config *cfg) { return 1; }
static int mysql_init(void *st, const struct pl_conn *c, const struct pl_proto_env *e) { return 0; }
static void mysql_data(void *st, enum pl_dir d, const uint8_t *p, size_t n, uint64_t ts) {}
static void mysql_gap(void *st, enum pl_dir d, uint64_t len, uint64_t ts) {}
static void mysql_close(void *st, enum pl_close_reason why, uint64_t ts) {}

const struct pl_proto_ops pl_mysql_ops = {
	"mysql", mysql_state_size, mysql_init, mysql_data, mysql_gap, NULL, mysql_close,
};
