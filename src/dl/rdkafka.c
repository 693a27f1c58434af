/* rdkafka.c – librdkafka, opened when the Kafka output starts (or output.kafka.properties
 * is checked): the functions pktlog and its unit tests call, forwarded (see lazylib.c). */
#include <stdarg.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include "pktlog/dl.h"
#include "lazylib.h"

/* What src/ calls. */
#define FUNCS(X)                                \
	X(rd_kafka_conf_new)                    \
	X(rd_kafka_conf_destroy)                \
	X(rd_kafka_conf_set)                    \
	X(rd_kafka_conf_set_dr_msg_cb)          \
	X(rd_kafka_conf_set_error_cb)           \
	X(rd_kafka_conf_set_log_cb)             \
	X(rd_kafka_conf_set_opaque)             \
	X(rd_kafka_new)                         \
	X(rd_kafka_destroy)                     \
	X(rd_kafka_err2str)                     \
	X(rd_kafka_last_error)                  \
	X(rd_kafka_message_status)              \
	X(rd_kafka_metadata)                    \
	X(rd_kafka_metadata_destroy)            \
	X(rd_kafka_outq_len)                    \
	X(rd_kafka_poll)                        \
	X(rd_kafka_produce)                     \
	X(rd_kafka_purge)                       \
	X(rd_kafka_topic_new)                   \
	X(rd_kafka_topic_destroy)               \
	X(rd_kafka_topic_name)

/* What only tests/unit/test_kafka_mock.c calls (a consumer and the mock cluster): a table of
 * its own, so pktlog itself never needs these symbols. */
#define TEST_FUNCS(X)                                   \
	X(rd_kafka_assign)                              \
	X(rd_kafka_consumer_close)                      \
	X(rd_kafka_consumer_poll)                       \
	X(rd_kafka_message_destroy)                     \
	X(rd_kafka_topic_partition_list_new)            \
	X(rd_kafka_topic_partition_list_add)            \
	X(rd_kafka_topic_partition_list_destroy)        \
	X(rd_kafka_mock_cluster_new)                    \
	X(rd_kafka_mock_cluster_destroy)                \
	X(rd_kafka_mock_cluster_bootstraps)             \
	X(rd_kafka_mock_topic_create)                   \
	X(rd_kafka_mock_broker_set_down)                \
	X(rd_kafka_mock_broker_set_up)                  \
	X(rd_kafka_mock_broker_set_rtt)                 \
	X(rd_kafka_mock_push_request_errors_array)      \
	X(rd_kafka_mock_broker_push_request_error_rtts)

PL_DL_TABLE(lib, "the Kafka output", FUNCS);
PL_DL_TABLE(test_lib, "librdkafka's mock cluster", TEST_FUNCS);

bool pl_dl_rdkafka(char *err, size_t cap)
{
	return pl_lazylib_load(&lib, err, cap);
}

#define CALL(f) PL_DL_CALL(lib, f)
#define TEST_CALL(f) PL_DL_CALL(test_lib, f)

rd_kafka_conf_t *rd_kafka_conf_new(void)
{
	return CALL(rd_kafka_conf_new)();
}

void rd_kafka_conf_destroy(rd_kafka_conf_t *conf)
{
	CALL(rd_kafka_conf_destroy)(conf);
}

rd_kafka_conf_res_t rd_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
				      char *errstr, size_t errstr_size)
{
	return CALL(rd_kafka_conf_set)(conf, name, value, errstr, errstr_size);
}

void rd_kafka_conf_set_dr_msg_cb(rd_kafka_conf_t *conf,
				 void (*dr_msg_cb)(rd_kafka_t *rk, const rd_kafka_message_t *rkmessage,
						   void *opaque))
{
	CALL(rd_kafka_conf_set_dr_msg_cb)(conf, dr_msg_cb);
}

void rd_kafka_conf_set_error_cb(rd_kafka_conf_t *conf,
				void (*error_cb)(rd_kafka_t *rk, int err, const char *reason, void *opaque))
{
	CALL(rd_kafka_conf_set_error_cb)(conf, error_cb);
}

void rd_kafka_conf_set_log_cb(rd_kafka_conf_t *conf,
			      void (*log_cb)(const rd_kafka_t *rk, int level, const char *fac,
					     const char *buf))
{
	CALL(rd_kafka_conf_set_log_cb)(conf, log_cb);
}

void rd_kafka_conf_set_opaque(rd_kafka_conf_t *conf, void *opaque)
{
	CALL(rd_kafka_conf_set_opaque)(conf, opaque);
}

rd_kafka_t *rd_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr,
			 size_t errstr_size)
{
	return CALL(rd_kafka_new)(type, conf, errstr, errstr_size);
}

void rd_kafka_destroy(rd_kafka_t *rk)
{
	CALL(rd_kafka_destroy)(rk);
}

const char *rd_kafka_err2str(rd_kafka_resp_err_t err)
{
	return CALL(rd_kafka_err2str)(err);
}

rd_kafka_resp_err_t rd_kafka_last_error(void)
{
	return CALL(rd_kafka_last_error)();
}

rd_kafka_msg_status_t rd_kafka_message_status(const rd_kafka_message_t *rkmessage)
{
	return CALL(rd_kafka_message_status)(rkmessage);
}

rd_kafka_resp_err_t rd_kafka_metadata(rd_kafka_t *rk, int all_topics, rd_kafka_topic_t *only_rkt,
				      const struct rd_kafka_metadata **metadatap, int timeout_ms)
{
	return CALL(rd_kafka_metadata)(rk, all_topics, only_rkt, metadatap, timeout_ms);
}

void rd_kafka_metadata_destroy(const struct rd_kafka_metadata *metadata)
{
	CALL(rd_kafka_metadata_destroy)(metadata);
}

int rd_kafka_outq_len(rd_kafka_t *rk)
{
	return CALL(rd_kafka_outq_len)(rk);
}

int rd_kafka_poll(rd_kafka_t *rk, int timeout_ms)
{
	return CALL(rd_kafka_poll)(rk, timeout_ms);
}

int rd_kafka_produce(rd_kafka_topic_t *rkt, int32_t partition, int msgflags, void *payload,
		     size_t len, const void *key, size_t keylen, void *msg_opaque)
{
	return CALL(rd_kafka_produce)(rkt, partition, msgflags, payload, len, key, keylen, msg_opaque);
}

rd_kafka_resp_err_t rd_kafka_purge(rd_kafka_t *rk, int purge_flags)
{
	return CALL(rd_kafka_purge)(rk, purge_flags);
}

rd_kafka_topic_t *rd_kafka_topic_new(rd_kafka_t *rk, const char *topic, rd_kafka_topic_conf_t *conf)
{
	return CALL(rd_kafka_topic_new)(rk, topic, conf);
}

void rd_kafka_topic_destroy(rd_kafka_topic_t *rkt)
{
	CALL(rd_kafka_topic_destroy)(rkt);
}

const char *rd_kafka_topic_name(const rd_kafka_topic_t *rkt)
{
	return CALL(rd_kafka_topic_name)(rkt);
}

/* ---- unit tests only ---- */

rd_kafka_resp_err_t rd_kafka_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions)
{
	return TEST_CALL(rd_kafka_assign)(rk, partitions);
}

rd_kafka_resp_err_t rd_kafka_consumer_close(rd_kafka_t *rk)
{
	return TEST_CALL(rd_kafka_consumer_close)(rk);
}

rd_kafka_message_t *rd_kafka_consumer_poll(rd_kafka_t *rk, int timeout_ms)
{
	return TEST_CALL(rd_kafka_consumer_poll)(rk, timeout_ms);
}

void rd_kafka_message_destroy(rd_kafka_message_t *rkmessage)
{
	TEST_CALL(rd_kafka_message_destroy)(rkmessage);
}

rd_kafka_topic_partition_list_t *rd_kafka_topic_partition_list_new(int size)
{
	return TEST_CALL(rd_kafka_topic_partition_list_new)(size);
}

rd_kafka_topic_partition_t *rd_kafka_topic_partition_list_add(rd_kafka_topic_partition_list_t *rktparlist,
							      const char *topic, int32_t partition)
{
	return TEST_CALL(rd_kafka_topic_partition_list_add)(rktparlist, topic, partition);
}

void rd_kafka_topic_partition_list_destroy(rd_kafka_topic_partition_list_t *rkparlist)
{
	TEST_CALL(rd_kafka_topic_partition_list_destroy)(rkparlist);
}

rd_kafka_mock_cluster_t *rd_kafka_mock_cluster_new(rd_kafka_t *rk, int broker_cnt)
{
	return TEST_CALL(rd_kafka_mock_cluster_new)(rk, broker_cnt);
}

void rd_kafka_mock_cluster_destroy(rd_kafka_mock_cluster_t *mcluster)
{
	TEST_CALL(rd_kafka_mock_cluster_destroy)(mcluster);
}

const char *rd_kafka_mock_cluster_bootstraps(const rd_kafka_mock_cluster_t *mcluster)
{
	return TEST_CALL(rd_kafka_mock_cluster_bootstraps)(mcluster);
}

rd_kafka_resp_err_t rd_kafka_mock_topic_create(rd_kafka_mock_cluster_t *mcluster, const char *topic,
					       int partition_cnt, int replication_factor)
{
	return TEST_CALL(rd_kafka_mock_topic_create)(mcluster, topic, partition_cnt, replication_factor);
}

rd_kafka_resp_err_t rd_kafka_mock_broker_set_down(rd_kafka_mock_cluster_t *mcluster, int32_t broker_id)
{
	return TEST_CALL(rd_kafka_mock_broker_set_down)(mcluster, broker_id);
}

rd_kafka_resp_err_t rd_kafka_mock_broker_set_up(rd_kafka_mock_cluster_t *mcluster, int32_t broker_id)
{
	return TEST_CALL(rd_kafka_mock_broker_set_up)(mcluster, broker_id);
}

rd_kafka_resp_err_t rd_kafka_mock_broker_set_rtt(rd_kafka_mock_cluster_t *mcluster, int32_t broker_id,
						 int rtt_ms)
{
	return TEST_CALL(rd_kafka_mock_broker_set_rtt)(mcluster, broker_id, rtt_ms);
}

void rd_kafka_mock_push_request_errors_array(rd_kafka_mock_cluster_t *mcluster, int16_t ApiKey,
					     size_t cnt, const rd_kafka_resp_err_t *errors)
{
	TEST_CALL(rd_kafka_mock_push_request_errors_array)(mcluster, ApiKey, cnt, errors);
}

/* Variadic, with no va_list twin: its documented arguments are cnt (error, RTT in ms) pairs,
 * pushed in order onto the broker's error stack, so pushing them one pair a call is the
 * same. */
rd_kafka_resp_err_t rd_kafka_mock_broker_push_request_error_rtts(rd_kafka_mock_cluster_t *mcluster,
								 int32_t broker_id, int16_t ApiKey,
								 size_t cnt, ...)
{
	rd_kafka_resp_err_t ret = RD_KAFKA_RESP_ERR_NO_ERROR;
	va_list ap;

	va_start(ap, cnt);
	for (size_t i = 0; i < cnt; i++) {
		rd_kafka_resp_err_t err = va_arg(ap, rd_kafka_resp_err_t);
		int rtt_ms = va_arg(ap, int);
		rd_kafka_resp_err_t r = TEST_CALL(rd_kafka_mock_broker_push_request_error_rtts)(
			mcluster, broker_id, ApiKey, 1, err, rtt_ms);

		if (r && !ret)
			ret = r;
	}
	va_end(ap);
	return ret;
}
