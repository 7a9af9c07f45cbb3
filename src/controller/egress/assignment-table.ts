// The controller's last Egress decisions (IP per Egress, box per IP), in its store database
// (SQLite or PostgreSQL), so a restarted controller gives every Egress the IP and the box it had.
import { migrate, type SqlDatabase } from '../../lib/sqlite.js';
import type { Previous } from './allocate.js';

const MIGRATIONS = [
  `CREATE TABLE egress_assignment (
     kind TEXT NOT NULL,      -- 'ip': key = Egress objectKey(), value = its IP; 'node': key = IP, value = node
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (kind, key))`,
];

export class EgressAssignmentTable {
  private constructor(private readonly db: SqlDatabase) {}

  static async open(db: SqlDatabase): Promise<EgressAssignmentTable> {
    await migrate(db, 'controller-egress', MIGRATIONS);
    return new EgressAssignmentTable(db);
  }

  async load(): Promise<Previous> {
    const rows = await this.db.all<{ kind: string; key: string; value: string }>('SELECT kind, key, value FROM egress_assignment');
    const of = (kind: string) => new Map(rows.filter((r) => r.kind === kind).map((r) => [r.key, r.value]));
    return { ips: of('ip'), nodes: of('node') };
  }

  /** Replaces the whole table (a few rows per Egress) in one transaction. */
  async save(p: Previous): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM egress_assignment');
      for (const [key, ip] of p.ips) await tx.run('INSERT INTO egress_assignment (kind, key, value) VALUES (?, ?, ?)', ['ip', key, ip]);
      for (const [ip, node] of p.nodes) await tx.run('INSERT INTO egress_assignment (kind, key, value) VALUES (?, ?, ?)', ['node', ip, node]);
    });
  }
}
