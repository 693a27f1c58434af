/* mysql_cmd.c – MySQL client → server: the server greeting (version, capabilities), the
 * login (user, schema, the client's capabilities), and commands: each becomes a record
 * queued for its response (or an event at once when no response comes), with its method
 * and query text (also set here for the executes mysql_stmt.c reads).
 * Must not: keep passwords or auth data. */
#include <stdio.h>
#include "mysql_int.h"

/* --- method and query text --- */

static const char *const cmd_names[] = {
	"SLEEP", "QUIT", "INIT_DB", "QUERY", "FIELD_LIST", "CREATE_DB", "DROP_DB", "REFRESH",
	"SHUTDOWN", "STATISTICS", "PROCESS_INFO", "CONNECT", "PROCESS_KILL", "DEBUG", "PING",
	"TIME", "DELAYED_INSERT", "CHANGE_USER", "BINLOG_DUMP", "TABLE_DUMP", "CONNECT_OUT",
	"REGISTER_SLAVE", "STMT_PREPARE", "STMT_EXECUTE", "STMT_SEND_LONG_DATA", "STMT_CLOSE",
	"STMT_RESET", "SET_OPTION", "STMT_FETCH", "DAEMON", "BINLOG_DUMP_GTID",
	"RESET_CONNECTION",
};

/* Skip blanks, comments and opening parentheses before a statement's first keyword. */
size_t my_skip_lead(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (is_blank(s[i]) || s[i] == '(') {
			i++;
		} else if (s[i] == '#' || (s[i] == '-' && i + 1 < n && s[i + 1] == '-')) {
			while (i < n && s[i] != '\n')
				i++;
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
			i += 2;
			while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'))
				i++;
			i = PL_MIN(i + 2, n);
		} else {
			break;
		}
	}
	return i;
}

void my_set_method_from_sql(struct mtxn *t, const char *s, size_t n)
{
	size_t i = my_skip_lead(s, n);

	t->method_len = 0;
	while (i < n && t->method_len < MY_METHOD_MAX) {
		char ch = s[i++];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 32);
		else if (!(ch >= 'A' && ch <= 'Z') && ch != '_')
			break;
		t->method[t->method_len++] = ch;
	}
}

void my_set_method_name(struct mtxn *t, int cmd)
{
	if (cmd == CMD_LOGIN) {
		copy_capped(t->method, &t->method_len, MY_METHOD_MAX, "LOGIN", 5);
		return;
	}
	if (cmd == COM_STMT_BULK_EXECUTE) {
		copy_capped(t->method, &t->method_len, MY_METHOD_MAX, "STMT_BULK_EXECUTE", 17);
		return;
	}
	if (cmd >= 0 && (size_t)cmd < PL_ARRAY_LEN(cmd_names)) {
		copy_capped(t->method, &t->method_len, MY_METHOD_MAX, cmd_names[cmd],
			    strlen(cmd_names[cmd]));
		return;
	}
	t->method_len = (uint32_t)snprintf(t->method, MY_METHOD_MAX, "COM_0x%02X", (unsigned)cmd & 0xff);
}

/* Statement text trimmed of surrounding blanks, truncated at max_query_length (the
 * record's buffer may be larger: records are shared by every connection of the thread). */
void my_set_query(struct mtxn *t, const char *s, size_t n)
{
	uint32_t cap = PL_MIN(t->query_cap, t->query_max);

	while (n && is_blank(s[0])) {
		s++;
		n--;
	}
	while (n && (is_blank(s[n - 1]) || s[n - 1] == '\0'))
		n--;
	t->query_len = 0;
	if (t->query)
		copy_capped(t->query, &t->query_len, cap, s, n);
}

/* CHANGE_USER: user, auth response, schema (then charset, plugin, attributes). */
/* --- commands --- */

static void parse_change_user(const struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	struct pl_str user, db = { "", 0 };

	rd_skip(&r, 1);
	user = rd_nulstr(&r);
	if (!c->caps_known || (c->client_caps & CAP_SECURE_CONN))
		rd_skip(&r, rd_uint(&r, 1));
	else
		rd_nulstr(&r);
	if (rd_left(&r))
		db = rd_nulstr(&r);
	copy_capped_u8(t->new_user, &t->new_user_len, MY_NAME_MAX, user.p, user.len);
	copy_capped_u8(t->new_schema, &t->new_schema_len, MY_NAME_MAX, db.p, db.len);
}

/* Text after the command byte (and after query attributes when negotiated); bad set
 * when it cannot be found. */
static struct pl_str cmd_text(const struct mconn *c, const struct mpkt *m, bool *bad)
{
	struct rd r = rd_make(m->p, m->len);

	rd_skip(&r, 1);
	if (m->p[0] == COM_QUERY && query_attrs(c))
		my_skip_query_attrs(&r);
	*bad = r.bad;
	if (r.bad)
		return (struct pl_str){ "", 0 };
	return (struct pl_str){ (const char *)r.p + r.off, rd_left(&r) };
}

/* Responses with nothing asked came before this command (none waits): is its own among
 * them? Not when a hole in the client's stream since the command before holds a command
 * that one response answered (one hole, one such response, the login not in the hole):
 * this command keeps the answer that follows. Otherwise it may be (frames swapped). */
static bool orphaned(const struct mconn *c)
{
	if (!c->orphans || pend_head(c) || c->pend.late)
		return false;
	return !c->req_hole || c->login_hole || c->orphans > 1;
}

static void lost_clear(struct mconn *c)
{
	c->orphans = 0;
	c->req_hole = false;
	c->login_hole = false;
	c->owed_taken = false;
}

static void new_command(struct mconn *c, const struct mpkt *m)
{
	struct mtxn *t;
	struct pl_str txt;
	struct rd r;
	bool bad;

	if (m->len == 0) {
		c->env->stats->mysql_parse_errors++;
		return;
	}
	my_command_starts(c, m);
	t = my_txn_get(c);
	if (!t)
		return;
	c->env->stats->mysql_requests++;
	t->cmd = m->p[0];
	if (m->cut)
		t->notes |= NOTE_CUT_REQ;
	t->start_ns = m->ts;
	t->req_end_ns = m->ts;
	t->client_bytes = m->wire;
	t->next_seq = (uint8_t)(m->last_seq + 1);
	my_set_method_name(t, t->cmd);
	txt = cmd_text(c, m, &bad);
	switch (t->cmd) {
	case COM_QUERY:
		if (bad)
			t->notes |= NOTE_REQ_PARSE;
		my_set_query(t, txt.p, txt.len);
		my_set_method_from_sql(t, txt.p, txt.len);
		if (m->cut && my_skip_lead(txt.p, txt.len) + t->method_len >= txt.len)
			my_set_method_name(t, COM_QUERY);  /* the keyword may go on past the cut */
		break;
	case COM_STMT_PREPARE:
	case COM_INIT_DB:
		my_set_query(t, txt.p, txt.len);
		break;
	case COM_FIELD_LIST:
		r = rd_make(m->p, m->len);
		rd_skip(&r, 1);
		txt = rd_nulstr(&r);
		my_set_query(t, txt.p, txt.len);
		break;
	case COM_CHANGE_USER:
		parse_change_user(c, t, m);
		break;
	case COM_STMT_EXECUTE:
		my_parse_execute(c, t, m);
		break;
	case COM_STMT_BULK_EXECUTE:
		my_parse_bulk(c, t, m);
		break;
	case COM_STMT_CLOSE:
		my_stmt_forget(c, m);
		break;
	default:
		break;
	}
	if (no_reply(t->cmd)) {
		my_emit_txn(c, t);
		my_txn_put(t);
		return;
	}
	if (orphaned(c)) {
		/* a response came with nothing asked, then this command: the capture may show
		 * them swapped. This command's response is unknown; pairing it with the next
		 * one would shift. When a hole in the client's stream may hold the command that
		 * response answered, this command's own may still follow (c->owed); so it may
		 * with no hole since the command before: that response may be the one before's,
		 * which took a lost command's answer. Taken as owed, the next response with
		 * nothing asked is dropped as this command's (it was itself an orphan, so every
		 * later command went out unmatched); a command sent before it clears it. */
		c->owed = true;
		lost_clear(c);
		my_emit_unmatched(c, t);
		return;
	}
	t->answer_before = c->owed_taken;
	c->owed = false;
	lost_clear(c);
	my_pend_push(c, t);
}

static void parse_login(struct mconn *c, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	struct pl_str user = { "", 0 }, db = { "", 0 };
	uint32_t caps = (uint32_t)rd_uint(&r, 2), ext = 0;
	struct mtxn *t;

	if (caps & CAP_PROTOCOL_41) {
		r.off = 0;
		caps = (uint32_t)rd_uint(&r, 4);
		rd_skip(&r, 4 + 1 + 19);
		ext = (uint32_t)rd_uint(&r, 4);  /* MariaDB: the client's extended caps */
		if (my_wire_tls(c, caps, m->total))
			return;
		user = rd_nulstr(&r);
		if (caps & CAP_PLUGIN_AUTH_LENENC)
			rd_lenstr(&r, NULL);
		else if (caps & CAP_SECURE_CONN)
			rd_skip(&r, rd_uint(&r, 1));
		else
			rd_nulstr(&r);
		if ((caps & CAP_CONNECT_WITH_DB) && rd_left(&r))
			db = rd_nulstr(&r);
	} else {
		rd_skip(&r, 3);
		user = rd_nulstr(&r);
	}
	c->client_caps = caps;
	if (!(c->server_caps & CAP_MYSQL) && !(caps & CAP_MYSQL) && (caps & CAP_PROTOCOL_41))
		c->ext_caps = ext & c->server_ext;
	if (my_wire_compressed(c, caps))
		return;
	c->user_len = (uint8_t)PL_MIN(user.len, (size_t)MY_NAME_MAX);
	memcpy(c->user, user.p, c->user_len);
	c->schema_len = (uint8_t)PL_MIN(db.len, (size_t)MY_NAME_MAX);
	memcpy(c->schema, db.p, c->schema_len);
	c->phase = PH_AUTH;
	t = my_txn_get(c);
	if (!t)
		return;
	t->cmd = CMD_LOGIN;
	my_set_method_name(t, CMD_LOGIN);
	t->start_ns = m->ts;
	t->req_end_ns = m->ts;
	t->client_bytes = m->wire;
	t->rs = RS_AUTH;
	t->next_seq = (uint8_t)(m->last_seq + 1);
	my_txn_put(c->login);
	c->login = t;
}

void my_client_msg(struct mconn *c, const struct mpkt *m)
{
	struct mtxn *h = c->pend.late ? NULL : pend_head(c);

	if (c->phase == PH_LOGIN) {
		parse_login(c, m);
		return;
	}
	if (c->phase == PH_AUTH) {
		/* auth rounds continue the login's sequence; a sequence id 0 is the first
		 * command, shown before the server's OK (frames reordered in the capture) */
		if (m->first_seq == 0 && c->login) {
			new_command(c, m);
			return;
		}
		if (c->login) {
			c->login->client_bytes += m->wire;
			c->login->next_seq = (uint8_t)(m->last_seq + 1);
		}
		return;
	}
	c->phase = PH_CMD;
	/* LOCAL INFILE contents and CHANGE_USER auth rounds continue the head's exchange; asked
	 * first, as a file of more than 253 packets wraps the sequence id past 255 to 0 */
	if (h && (h->rs == RS_INFILE || h->rs == RS_AUTH) && m->first_seq == h->next_seq) {
		h->client_bytes += m->wire;
		h->next_seq = (uint8_t)(m->last_seq + 1);
		if (m->cut)
			h->notes |= NOTE_CUT_REQ;
		return;
	}
	if (m->first_seq == 0) {
		new_command(c, m);
		return;
	}
	c->env->stats->mysql_parse_errors++;
	my_start_hunt(c, PL_DIR_TO_SERVER);
}

/* MariaDB servers announce "5.5.5-<real version>" for old clients' sake. */
static void set_version(struct mconn *c, struct pl_str v)
{
	if (v.len > 6 && !memcmp(v.p, "5.5.5-", 6)) {
		v.p += 6;
		v.len -= 6;
	}
	copy_capped_u8(c->version, &c->version_len, MY_VERSION_MAX, v.p, v.len);
}

void my_greeting(struct mconn *c, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	uint32_t caps;

	if (m->first_seq != 0 || m->len == 0 || m->p[0] != 10) {
		/* not a greeting: the capture began mid-connection */
		c->phase = PH_CMD;
		my_start_hunt(c, PL_DIR_TO_CLIENT);
		return;
	}
	rd_skip(&r, 1);
	set_version(c, rd_nulstr(&r));
	rd_skip(&r, 4 + 8 + 1);         /* connection id, auth data, filler */
	caps = (uint32_t)rd_uint(&r, 2);
	if (rd_left(&r) >= 5) {
		rd_skip(&r, 3);
		caps |= (uint32_t)rd_uint(&r, 2) << 16;
	}
	/* auth data length, 6 reserved bytes, then MariaDB's extended capabilities */
	if (!(caps & CAP_MYSQL) && rd_left(&r) >= 11) {
		rd_skip(&r, 7);
		c->server_ext = (uint32_t)rd_uint(&r, 4);
	}
	c->server_caps = caps;
	c->caps_known = true;
	c->phase = PH_LOGIN;
}
