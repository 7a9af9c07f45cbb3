// Counts the SQL statements a Database runs, by wrapping its calls: run/get/all/exec and a
// prepared statement's run one each, a transaction its BEGIN and COMMIT plus what runs inside it
// (statements prepared before counting started are not seen: start counting first). `writes` counts what ends in a WAL
// commit (an autocommit run, or a whole transaction): on a box each one is a write to flash.
import type { Database, SqlExecutor } from '../../src/lib/sqlite.js';

export interface SqlCounts {
  statements: number;
  writes: number;
}

/** Starts counting on `db` (for the rest of its life); read the returned object at any time. */
export function countStatements(db: Database): SqlCounts {
  const counts: SqlCounts = { statements: 0, writes: 0 };
  const wrap = <T extends SqlExecutor>(target: T, inTx: boolean): void => {
    const [run, get, all, exec] = [target.run.bind(target), target.get.bind(target), target.all.bind(target), target.exec.bind(target)];
    target.run = (sql, params) => {
      counts.statements++;
      if (!inTx) counts.writes++;
      return run(sql, params);
    };
    target.get = (sql, params) => {
      counts.statements++;
      if (!inTx && /^\s*(INSERT|UPDATE|DELETE|REPLACE)/i.test(sql)) counts.writes++;
      return get(sql, params) as never;
    };
    target.all = (sql, params) => {
      counts.statements++;
      if (!inTx && /^\s*(INSERT|UPDATE|DELETE|REPLACE)/i.test(sql)) counts.writes++;
      return all(sql, params) as never;
    };
    target.exec = (sql) => {
      counts.statements++;
      return exec(sql);
    };
  };
  wrap(db, false);
  const prepare = db.prepare.bind(db);
  db.prepare = (sql) => {
    const stmt = prepare(sql);
    return {
      run: (params) => {
        counts.statements++;
        counts.writes++; // prepared statements are the hot path's writes
        return stmt.run(params);
      },
    };
  };
  const transaction = db.transaction.bind(db);
  db.transaction = (fn) => transaction((tx) => {
    counts.statements += 2; // BEGIN IMMEDIATE, COMMIT
    counts.writes++;
    wrap(tx, true);
    return fn(tx);
  });
  return counts;
}
