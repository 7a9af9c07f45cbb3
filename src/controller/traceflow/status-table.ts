// Traceflow statuses in the controller's SQLite, so a finished trace survives a controller
// restart (a running one becomes Failed: its run is gone). The traceflow module's own table.
import type { TraceflowStatus } from '../../api/traceflow.js';
import { migrate, type SqlDatabase } from '../../lib/sqlite.js';

const MIGRATIONS = [
  `CREATE TABLE traceflow_status (
     object_key TEXT PRIMARY KEY,   -- objectKey() of the Traceflow
     uid TEXT NOT NULL,
     generation INTEGER NOT NULL,
     status TEXT NOT NULL)`,        // JSON
];

export interface StatusEntry {
  uid: string;
  generation: number;
  status: TraceflowStatus;
}

export class TraceflowStatusTable {
  private constructor(private readonly db: SqlDatabase) {}

  static async open(db: SqlDatabase): Promise<TraceflowStatusTable> {
    await migrate(db, 'controller-traceflow', MIGRATIONS);
    return new TraceflowStatusTable(db);
  }

  async load(): Promise<Map<string, StatusEntry>> {
    const rows = await this.db.all<{ object_key: string; uid: string; generation: number; status: string }>('SELECT object_key, uid, generation, status FROM traceflow_status');
    return new Map(rows.map((r) => [r.object_key, { uid: r.uid, generation: r.generation, status: JSON.parse(r.status) as TraceflowStatus }]));
  }

  async put(key: string, e: StatusEntry): Promise<void> {
    await this.db.run(
      'INSERT INTO traceflow_status (object_key, uid, generation, status) VALUES (?, ?, ?, ?) ON CONFLICT (object_key) DO UPDATE SET uid = excluded.uid, generation = excluded.generation, status = excluded.status',
      [key, e.uid, e.generation, JSON.stringify(e.status)],
    );
  }

  async delete(key: string): Promise<void> {
    await this.db.run('DELETE FROM traceflow_status WHERE object_key = ?', [key]);
  }
}
