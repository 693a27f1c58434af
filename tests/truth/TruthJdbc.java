/* TruthJdbc.java – the truth harness's JDBC client: reads commands on stdin and runs them
 * through the JDBC driver on the class path (MySQL Connector/J or MariaDB Connector/J, both
 * from Maven, with useServerPrepStmts=true), so the traffic is what that driver sends:
 * server-side prepared statements, its own set-up queries, multi-statements, batches.
 * Only java.sql is used; the driver is picked by the URL. Each command's outcome is one
 * JSON line on stdout (the client-side truth), with the SQL it was for ("sql"), since the
 * drivers send statements of their own that the general log also holds.
 *
 *   java -cp DIR:DRIVER.jar TruthJdbc URL USER PASSWORD
 *   Q <sql>          Statement.execute, every result counted (several: rows not compared)
 *   P <sql>          prepareStatement; the statement gets the next number from 0
 *   X <n> <int>...   execute prepared statement n with integer parameters
 *   B <n> <k>        executeBatch of k parameter sets on statement n
 *   C <n>            close prepared statement n
 *   H <bytes>        a SELECT whose text is over <bytes> long (one literal)
 *   G                isValid (a ping)
 */
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;

public class TruthJdbc {
    private static final List<PreparedStatement> stmts = new ArrayList<>();
    private static final List<String> texts = new ArrayList<>();
    private static final List<Boolean> used = new ArrayList<>();

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        int n = Math.min(s.length(), 4096);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private static void out(String cmd, String sql, long rows, long affected, int errno) {
        System.out.println("{\"cmd\":\"" + cmd + "\",\"sql\":" + (sql == null ? "null" : quote(sql))
                + ",\"sqllen\":" + (sql == null ? 0 : sql.length())
                + ",\"rows\":" + rows + ",\"affected\":" + affected + ",\"errno\":" + errno + "}");
        System.out.flush();
    }

    private static long count(ResultSet rs) throws SQLException {
        long n = 0;
        while (rs.next()) {
            n++;
        }
        rs.close();
        return n;
    }

    private static void query(Connection c, String sql) {
        long rows = -1, affected = -1;
        int results = 0;
        try (Statement s = c.createStatement()) {
            boolean isRs = s.execute(sql);
            while (true) {
                if (isRs) {
                    rows = count(s.getResultSet());
                } else {
                    long u = s.getUpdateCount();
                    if (u == -1) {
                        break;
                    }
                    affected = u;
                }
                results++;
                isRs = s.getMoreResults();
            }
        } catch (SQLException e) {
            out("Query", sql, -1, -1, e.getErrorCode());
            return;
        }
        if (results > 1) {
            rows = affected = -1;
        }
        out("Query", sql, rows, affected, 0);
    }

    private static void prepare(Connection c, String sql) {
        try {
            stmts.add(c.prepareStatement(sql));
            texts.add(sql);
            used.add(false);
        } catch (SQLException e) {
            stmts.add(null);
            texts.add(sql);
            used.add(true);
            out("Prepare", sql, -1, -1, e.getErrorCode());
        }
    }

    private static PreparedStatement stmt(String[] a) {
        int n = Integer.parseInt(a[1]);
        return n >= 0 && n < stmts.size() ? stmts.get(n) : null;
    }

    private static void bind(PreparedStatement p, String[] a, int from) throws SQLException {
        int np = p.getParameterMetaData().getParameterCount();
        for (int i = 0; i < np; i++) {
            p.setLong(i + 1, from + i < a.length ? Long.parseLong(a[from + i]) : 0);
        }
    }

    /* A driver that prepares lazily (MariaDB Connector/J sends PREPARE with the first
     * EXECUTE) reports a refused PREPARE on the first execute: no Execute was logged. */
    private static void failed(int n, String sql, SQLException e) {
        if (!used.get(n)) {
            used.set(n, true);
            out("Prepare", sql, -1, -1, e.getErrorCode());
            stmts.set(n, null);
            return;
        }
        out("Execute", sql, -1, -1, e.getErrorCode());
    }

    private static void execute(String[] a) {
        PreparedStatement p = stmt(a);
        if (p == null) {
            return;
        }
        int n = Integer.parseInt(a[1]);
        String sql = texts.get(n);
        long rows = -1, affected = -1;
        try {
            bind(p, a, 2);
            if (p.execute()) {
                rows = count(p.getResultSet());
            } else {
                affected = p.getUpdateCount();
            }
        } catch (SQLException e) {
            failed(n, sql, e);
            return;
        }
        used.set(n, true);
        out("Execute", sql, rows, affected, 0);
    }

    private static void batch(String[] a) {
        PreparedStatement p = stmt(a);
        if (p == null) {
            return;
        }
        int n = Integer.parseInt(a[1]);
        int k = Integer.parseInt(a[2]);
        try {
            int np = p.getParameterMetaData().getParameterCount();
            for (int i = 0; i < k; i++) {
                for (int j = 0; j < np; j++) {
                    p.setLong(j + 1, i * 7 + j);
                }
                p.addBatch();
            }
            p.executeBatch();
        } catch (SQLException e) {
            /* what went on the wire is unknown: the harness drops this entry */
            System.out.println("{\"cmd\":\"Batch\",\"count\":" + k + ",\"failed\":true,\"sql\":"
                    + quote(texts.get(n)) + ",\"rows\":-1,\"affected\":-1,\"errno\":" + e.getErrorCode() + "}");
            System.out.flush();
            return;
        }
        used.set(n, true);
        /* "count": parameter sets sent (one COM_STMT_EXECUTE each, or one bulk execute) */
        System.out.println("{\"cmd\":\"Batch\",\"count\":" + k + ",\"sql\":" + quote(texts.get(n))
                + ",\"rows\":-1,\"affected\":-1,\"errno\":0}");
        System.out.flush();
    }

    private static void close(String[] a) {
        PreparedStatement p = stmt(a);
        if (p == null) {
            return;
        }
        try {
            p.close();
        } catch (SQLException e) {
            /* nothing on the wire to score */
        }
        stmts.set(Integer.parseInt(a[1]), null);
        out("Close stmt", null, -1, -1, 0);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: TruthJdbc URL USER PASSWORD");
            System.exit(2);
        }
        Connection c = DriverManager.getConnection(args[0], args[1], args[2]);
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT CONNECTION_ID()")) {
            rs.next();
            System.out.println("{\"thread\":" + rs.getLong(1) + ",\"driver\":" + quote(c.getMetaData().getDriverName()
                    + " " + c.getMetaData().getDriverVersion()) + "}");
        }
        out("Query", "SELECT CONNECTION_ID()", 1, -1, 0);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.length() < 1) {
                continue;
            }
            String arg = line.length() > 2 ? line.substring(2) : "";
            String[] a = line.split(" ");
            switch (line.charAt(0)) {
                case 'Q': query(c, arg); break;
                case 'P': prepare(c, arg); break;
                case 'X': execute(a); break;
                case 'B': batch(a); break;
                case 'C': close(a); break;
                case 'H': {
                    int len = Integer.parseInt(a[1]);
                    StringBuilder b = new StringBuilder(len + 40).append("SELECT LENGTH('");
                    for (int i = 0; i < len; i++) {
                        b.append('h');
                    }
                    query(c, b.append("') AS n").toString());
                    break;
                }
                case 'G': c.isValid(5); break;
                default: break;
            }
        }
        c.close();
    }
}
